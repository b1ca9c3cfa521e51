//! The catalog's query shapes (issue 15's mix), the readers that send them, and the pages the
//! baseline serves for them.
//!
//! Each [`Shape`] is one kind of query: a sort, a facet filter, a selective or empty filter, a
//! search of one, two or three words, the facets endpoint. The values are chosen for the bench's
//! seeded catalog (`bench/src/db/seed.rs`: coprime periods per field, names such as
//! `cat-12 swift qwen coder`). A reader sends its shapes' first pages and follows each page's
//! `nextCursor` for up to two more; wrk's `bench/wrk/catalog.lua` does the same with the same
//! paths. [`fetch_pages`] reads every page a reader can ask for once from the service, so the
//! baseline can answer each path with the service's own bytes.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{Result, bail};

use crate::load::{self, Req, Rng, User, Verdict};

/// One query shape of the mix: its name in the report and its path with query.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    pub name: &'static str,
    pub path: &'static str,
}

impl Shape {
    /// Whether the shape reads the facets (no cursor, no page) rather than a list page.
    pub fn is_facets(&self) -> bool {
        self.path.starts_with("/v1/catalog/facets")
    }
}

const fn shape(name: &'static str, path: &'static str) -> Shape {
    Shape { name, path }
}

/// Every shape, in report order. Shares of the seeded catalog matched (of `n` models): each
/// sort and the unfiltered facets all; `architecture` 1/7, `license` 1/5, `tag` (a family) 1/3,
/// the parameter range 2/5 of the sizes, the context range 1/3, two architectures 2/7, the
/// combined filter 1/105, the selective one 1/2,310 (4 of 10,000), `q=-12` 111 of 10,000, the
/// empty ones none; `q=swift` 1/13 of the names, `qwen coder` 1/21, `swift qwen coder` 1/273,
/// `checkpoint` every description; `q=code` ranks `coder` names (word prefix) before `decoded`
/// ones (substring) before descriptions (whole word).
pub const SHAPES: &[Shape] = &[
    shape("sort-sharedAt", "/v1/catalog/models?sort=sharedAt"),
    shape("sort-name", "/v1/catalog/models?sort=name"),
    shape("sort-endpoints", "/v1/catalog/models?sort=endpoints"),
    shape("sort-relevance", "/v1/catalog/models?q=code&sort=relevance"),
    shape("facet-architecture", "/v1/catalog/models?architecture=qwen"),
    shape("facet-license", "/v1/catalog/models?license=mit"),
    shape("facet-tag", "/v1/catalog/models?tag=code"),
    shape(
        "facet-parameters",
        "/v1/catalog/models?minParameters=10000000000&maxParameters=60000000000",
    ),
    shape(
        "facet-contextLength",
        "/v1/catalog/models?minContextLength=8192&maxContextLength=32767",
    ),
    shape(
        "facet-repeated",
        "/v1/catalog/models?architecture=llama&architecture=qwen",
    ),
    shape(
        "facet-combined",
        "/v1/catalog/models?architecture=llama&license=apache-2.0&tag=chat&sort=name",
    ),
    shape(
        "selective",
        "/v1/catalog/models?architecture=falcon&license=mit&tag=t3&minContextLength=100000",
    ),
    shape("selective-q", "/v1/catalog/models?q=-12"),
    shape(
        "empty-filter",
        "/v1/catalog/models?architecture=llama&license=mit&minParameters=200000000000",
    ),
    shape("empty-q", "/v1/catalog/models?q=zzqx"),
    shape("q-1-token", "/v1/catalog/models?q=swift"),
    shape("q-2-tokens", "/v1/catalog/models?q=qwen%20coder"),
    shape("q-3-tokens", "/v1/catalog/models?q=swift%20qwen%20coder"),
    shape("q-broad", "/v1/catalog/models?q=checkpoint&sort=endpoints"),
    shape("facets", "/v1/catalog/facets"),
    shape(
        "facets-filtered",
        "/v1/catalog/facets?architecture=llama&tag=code&minParameters=10000000000",
    ),
    shape("facets-q", "/v1/catalog/facets?q=swift"),
];

/// The paths of the list shapes (every shape but the facets).
pub fn list_paths() -> Arc<[String]> {
    paths(SHAPES.iter().filter(|s| !s.is_facets()))
}

/// The paths of the facets shapes.
pub fn facets_paths() -> Arc<[String]> {
    paths(SHAPES.iter().filter(|s| s.is_facets()))
}

/// The paths of every shape.
pub fn all_paths() -> Arc<[String]> {
    paths(SHAPES.iter())
}

fn paths<'a>(shapes: impl Iterator<Item = &'a Shape>) -> Arc<[String]> {
    shapes.map(|s| s.path.to_owned()).collect()
}

/// The key of one shape's figure in a run's `extra` (`"{shape}:{figure}"`): the one place it is
/// spelt, for the scenario that writes it and the report that reads it.
pub fn key(shape: &str, figure: &str) -> String {
    format!("{shape}:{figure}")
}

/// The path of the page after `cursor` of the listing `base` (what the readers and wrk send).
pub fn page_path(base: &str, cursor: &str) -> String {
    let sep = if base.contains('?') { '&' } else { '?' };
    format!("{base}{sep}after={cursor}")
}

/// The last `"nextCursor":"…"` value of a page, if it has one.
pub fn next_cursor(body: &[u8]) -> Option<String> {
    const KEY: &[u8] = b"\"nextCursor\":\"";
    let at = body.windows(KEY.len()).rposition(|w| w == KEY)? + KEY.len();
    let len = body[at..].iter().position(|b| *b == b'"')?;
    String::from_utf8(body[at..at + len].to_vec()).ok()
}

/// Pages a reader follows after a first page.
const FOLLOW: u32 = 2;

/// Reads the catalog anonymously: a random one of its `queries`, then up to [`FOLLOW`] more of
/// its pages.
struct CatalogUser {
    rng: Rng,
    queries: Arc<[String]>,
    base: usize,
    cursor: Option<String>,
    follow: u32,
}

impl User for CatalogUser {
    fn next(&mut self) -> Option<Req> {
        let path = match self.cursor.take() {
            Some(cursor) if self.follow > 0 => {
                self.follow -= 1;
                page_path(&self.queries[self.base], &cursor)
            }
            _ => {
                self.base = self.rng.below(self.queries.len());
                self.follow = FOLLOW;
                self.queries[self.base].clone()
            }
        };
        Some(Req {
            post: false,
            path,
            auth: None,
        })
    }

    fn answer(&mut self, status: u16, body: &[u8]) -> Verdict {
        if status != 200 {
            return Verdict::Error;
        }
        self.cursor = next_cursor(body);
        Verdict::Ok
    }
}

/// `n` catalog readers of `queries`, each with its own random sequence.
pub fn users(queries: &Arc<[String]>, n: usize) -> Vec<Box<dyn User>> {
    (0..n)
        .map(|i| {
            Box::new(CatalogUser {
                rng: Rng::new(i as u64 + 7),
                queries: Arc::clone(queries),
                base: 0,
                cursor: None,
                follow: 0,
            }) as Box<dyn User>
        })
        .collect()
}

/// Every page a reader of `queries` can ask for (each first page and up to [`FOLLOW`] pages
/// after it), read once from the service at `addr`: path with query → body. Fails on an answer
/// other than 200, naming the path.
pub async fn fetch_pages(addr: SocketAddr, queries: &[String]) -> Result<BTreeMap<String, String>> {
    let mut pages = BTreeMap::new();
    for base in queries {
        let mut path = base.clone();
        for _ in 0..=FOLLOW {
            let (status, body) = load::once(
                addr,
                &Req {
                    post: false,
                    path: path.clone(),
                    auth: None,
                },
            )
            .await?;
            if status != 200 {
                bail!(
                    "{path} answered {status}: {}",
                    String::from_utf8_lossy(&body)
                );
            }
            let cursor = next_cursor(&body);
            pages.insert(path, String::from_utf8(body.to_vec())?);
            match cursor {
                Some(cursor) => path = page_path(base, &cursor),
                None => break,
            }
        }
    }
    Ok(pages)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_have_distinct_names_and_paths() {
        let mut names: Vec<&str> = SHAPES.iter().map(|s| s.name).collect();
        let mut paths: Vec<&str> = SHAPES.iter().map(|s| s.path).collect();
        names.sort_unstable();
        names.dedup();
        paths.sort_unstable();
        paths.dedup();
        assert_eq!(names.len(), SHAPES.len());
        assert_eq!(paths.len(), SHAPES.len());
        assert!(SHAPES.iter().all(|s| !s.name.contains(':')));
        assert_eq!(list_paths().len() + facets_paths().len(), all_paths().len());
        assert_eq!(facets_paths().len(), 3);
    }

    #[test]
    fn follows_cursors_like_wrk() {
        assert_eq!(
            page_path("/v1/catalog/models?sort=name", "6e3a"),
            "/v1/catalog/models?sort=name&after=6e3a"
        );
        assert_eq!(
            page_path("/v1/catalog/models", "6e3a"),
            "/v1/catalog/models?after=6e3a"
        );
        let body =
            br#"{"items":[{"name":"a \"nextCursor\""}],"nextCursor":"7423a","hasMore":true}"#;
        assert_eq!(next_cursor(body).as_deref(), Some("7423a"));
        assert_eq!(next_cursor(br#"{"items":[],"nextCursor":null}"#), None);
    }

    #[test]
    fn a_reader_follows_two_pages_then_starts_over() {
        let queries: Arc<[String]> = vec!["/q?a=1".to_owned()].into();
        let mut user = users(&queries, 1).remove(0);
        let page = br#"{"nextCursor":"c1"}"#;
        let mut sent = Vec::new();
        for _ in 0..4 {
            sent.push(user.next().map(|r| r.path).unwrap_or_default());
            assert_eq!(user.answer(200, page), Verdict::Ok);
        }
        assert_eq!(
            sent,
            ["/q?a=1", "/q?a=1&after=c1", "/q?a=1&after=c1", "/q?a=1"]
        );
        assert_eq!(user.answer(404, page), Verdict::Error);
    }
}
