//! A saved index (what the start-up checkpoint holds) reads back as the same catalog: every
//! listing and facet count equal, over random catalogs with gaps in their numbers, and equal
//! again after the same changes to both; damaged bytes are refused, never a panic.

use super::*;

/// A saved index, whole in memory.
struct Encoded {
    head: Vec<u8>,
    sections: Vec<Vec<u8>>,
}

impl Sink for Encoded {
    fn take(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        if self.sections.is_empty() {
            self.sections.push(Vec::new());
        }
        self.sections.last_mut().unwrap().extend_from_slice(bytes);
        Ok(())
    }

    fn end_section(&mut self) -> std::io::Result<()> {
        self.sections.push(Vec::new());
        Ok(())
    }
}

fn encoded(index: &CatalogIndex) -> Encoded {
    let saving = index.saving();
    let mut saved = Encoded {
        head: saving.head(),
        sections: vec![Vec::new()],
    };
    saving.encode(&mut saved).unwrap();
    // The last end leaves an empty section after the last one.
    assert_eq!(saved.sections.pop(), Some(Vec::new()));
    assert_eq!(saved.sections.len(), SECTIONS);
    saved
}

fn round_trip(index: &CatalogIndex) -> CatalogIndex {
    decoded(&encoded(index)).unwrap()
}

fn decoded(saved: &Encoded) -> Result<CatalogIndex, Corrupt> {
    CatalogIndex::decode(&saved.head, |place| Ok(saved.sections[place].clone()))
}

/// Every item of a listing, page after page (a few items a page). A cursor that does not move
/// on fails the test rather than paging for ever.
fn listing(index: &CatalogIndex, filter: &Filter, sort: Sort) -> Vec<ModelId> {
    let mut got = Vec::new();
    let mut after = None;
    loop {
        assert!(got.len() <= index.len(), "the listing never ends");
        let page = index
            .current()
            .browse(&query(filter.clone(), sort, after, 3));
        got.extend(page.items.iter().map(|item| item.model_id));
        match page.next {
            Some(next) => after = Some(next),
            None => return got,
        }
    }
}

fn assert_same(saved: &CatalogIndex, read: &CatalogIndex, rng: &mut Rng, case: u64) {
    assert_eq!(saved.len(), read.len(), "case {case}");
    let mut versions: Vec<_> = saved.versions.iter().collect();
    let mut read_versions: Vec<_> = read.versions.iter().collect();
    versions.sort();
    read_versions.sort();
    assert_eq!(versions, read_versions, "case {case}");
    for id in saved.current().ids() {
        assert_eq!(
            saved.current().get(id),
            read.current().get(id),
            "case {case}"
        );
    }
    for _ in 0..12 {
        let filter = random_filter(rng);
        for sort in [Sort::SharedAt, Sort::Name, Sort::Endpoints, Sort::Relevance] {
            let expected = listing(saved, &filter, sort);
            assert_eq!(expected, brute_force(saved, &filter, sort), "case {case}");
            assert_eq!(
                listing(read, &filter, sort),
                expected,
                "case {case}: {filter:?}"
            );
        }
        assert_eq!(
            read.current().facets(&filter),
            saved.current().facets(&filter),
            "case {case}: {filter:?}"
        );
    }
}

#[test]
fn a_saved_index_reads_back_as_the_same_catalog_and_changes_alike() {
    for case in 0..40 {
        let mut rng = Rng(0x5A7E_D000 + case);
        let rows: Vec<CatalogRow> = (0..rng.below(240)).map(|_| random_row(&mut rng)).collect();
        let mut index = random_index(&mut rng, rows.clone(), case % 2 == 0);
        // Gaps in the numbers in use: a third of the items withdrawn (at a newer version).
        for row in rows.iter().step_by(3) {
            index.apply(at(row, 5, false));
        }
        index.adjust_endpoints(rows.get(1).map_or(ModelId::new(), |r| r.model.id), 7);
        let mut read = round_trip(&index);
        assert_same(&index, &read, &mut rng, case);
        // The same changes to both, then a second save of the changed copy.
        for _ in 0..60 {
            let row = random_row(&mut rng);
            index.apply(row.clone());
            read.apply(row);
        }
        for row in rows.iter().skip(1).step_by(4) {
            for index in [&mut index, &mut read] {
                index.apply(at(row, 6, false));
                index.apply(at(row, 7, true));
            }
        }
        assert_same(&index, &read, &mut rng, case);
        assert_same(&index, &round_trip(&read), &mut rng, case);
    }
}

#[test]
fn an_empty_index_reads_back_empty() {
    let read = round_trip(&CatalogIndex::default());
    assert_eq!(read.len(), 0);
    assert!(read.versions.is_empty());
}

#[test]
fn damaged_bytes_are_refused_and_never_panic() {
    let mut rng = Rng(0xDA_AA6E);
    let rows: Vec<CatalogRow> = (0..25).map(|_| random_row(&mut rng)).collect();
    let saved = encoded(&CatalogIndex::from_rows(rows));
    assert!(decoded(&saved).is_ok());
    let mut refused = 0;
    for place in 0..SECTIONS {
        let bytes = &saved.sections[place];
        let with = |section: Vec<u8>| {
            let mut damaged = Encoded {
                head: saved.head.clone(),
                sections: saved.sections.clone(),
            };
            damaged.sections[place] = section;
            decoded(&damaged)
        };
        for cut in 0..bytes.len() {
            assert!(
                with(bytes[..cut].to_vec()).is_err(),
                "section {place} cut at {cut} of {}",
                bytes.len()
            );
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(with(longer).is_err(), "section {place} with a byte more");
        // Any one byte changed: refused or read (a changed letter of a name is still an
        // index; the checkpoint's checksums refuse those), but never a panic.
        for at in 0..bytes.len() {
            for flip in [0x01, 0xFF] {
                let mut damaged = bytes.clone();
                damaged[at] ^= flip;
                refused += usize::from(with(damaged).is_err());
            }
        }
    }
    assert!(refused > 0);
    assert!(CatalogIndex::decode(&saved.head[..5], |_| Ok::<_, Corrupt>(Vec::new())).is_err());
}
