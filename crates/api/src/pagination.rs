//! Query strings of list routes: strict parameters (unknown ones are refused), `limit`, and
//! opaque cursors.
//!
//! A cursor names the last item of the previous page by its sort key, so the next page starts
//! strictly after it: items added or removed between pages never shift the window.

use std::borrow::Cow;
use std::fmt;

use catalog::SortKey;
use domain::Timestamp;
use serde::Serialize;
use uuid::Uuid;

use crate::error::ApiError;
use crate::settings::ApiSettings;

/// Parsed query parameters, all of them known to the route, each given at most once unless the
/// route lets it repeat, in the order given. A value borrows the query string unless it had to
/// be decoded (`%xx` or `+`), so a plain query is read without an allocation per parameter.
#[derive(Debug, Default)]
pub struct QueryParams<'q>(Vec<(&'static str, Cow<'q, str>)>);

impl<'q> QueryParams<'q> {
    pub fn parse(query: &'q str, allowed: &[&'static str]) -> Result<Self, ApiError> {
        Self::parse_repeating(query, allowed, &[])
    }

    /// Like [`QueryParams::parse`], but the keys of `repeatable` may be given several times
    /// (read them with [`QueryParams::all`]).
    pub fn parse_repeating(
        query: &'q str,
        allowed: &[&'static str],
        repeatable: &[&str],
    ) -> Result<Self, ApiError> {
        let mut pairs: Vec<(&'static str, Cow<'q, str>)> = Vec::new();
        for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
            let Some(known) = allowed.iter().copied().find(|known| *known == key) else {
                let message = format!(
                    "Unknown query parameter `{key}`. This route accepts: {}.",
                    if allowed.is_empty() {
                        "none".to_owned()
                    } else {
                        allowed.join(", ")
                    }
                );
                return Err(ApiError::invalid(key.into_owned(), message));
            };
            if !repeatable.contains(&known) && pairs.iter().any(|(given, _)| *given == known) {
                let message = format!("Query parameter `{known}` is given more than once.");
                return Err(ApiError::invalid(known, message));
            }
            pairs.push((known, value));
        }
        Ok(Self(pairs))
    }

    /// The value of `key` (the first, for a repeatable key).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(given, _)| *given == key)
            .map(|(_, value)| &**value)
    }

    /// Every value given for `key`, in order.
    pub fn all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> {
        self.0
            .iter()
            .filter(move |(given, _)| *given == key)
            .map(|(_, value)| &**value)
    }

    /// `limit`: 1 to `max_page_size`, default `default_page_size`.
    pub fn limit(&self, api: &ApiSettings) -> Result<u64, ApiError> {
        let Some(raw) = self.get("limit") else {
            return Ok(api.default_page_size.get());
        };
        match raw.parse::<u64>() {
            Ok(n) if (1..=api.max_page_size.get()).contains(&n) => Ok(n),
            _ => Err(ApiError::invalid(
                "limit",
                format!(
                    "`limit` must be an integer from 1 to {}.",
                    api.max_page_size.get()
                ),
            )),
        }
    }

    /// `limit` and `after` of a list ordered by creation time (the only parameters it takes).
    pub fn created_window(
        query: &'q str,
        api: &ApiSettings,
    ) -> Result<(u64, Option<(Timestamp, Uuid)>), ApiError> {
        let params = Self::parse(query, &["limit", "after"])?;
        Ok((params.limit(api)?, Cursor::created(params.get("after"))?))
    }

    /// A non-negative integer parameter.
    pub fn integer(&self, key: &'static str) -> Result<Option<i64>, ApiError> {
        self.get(key)
            .map(|raw| {
                raw.parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| {
                    ApiError::invalid(key, format!("`{key}` must be a non-negative integer."))
                })
            })
            .transpose()
    }
}

/// The sort key of the last item of a page, sealed into an opaque string: the one cursor codec
/// of every listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cursor {
    /// Lists ordered by creation time then id.
    Created(Timestamp, Uuid),
    /// Lists ordered by a monotonic row id.
    Seq(i64),
    /// The public catalog, in any of its orders.
    Catalog(SortKey),
}

/// A writer that passes on what it is given as lowercase hex, as `hex::encode` writes it: a
/// cursor is written straight into its string, without a plain text to encode afterwards
/// (every catalog page makes one).
struct Hex<W>(W);

impl<W: fmt::Write> fmt::Write for Hex<W> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        for chunk in text.as_bytes().chunks(32) {
            let mut digits = [0; 64];
            for (pair, byte) in digits.chunks_exact_mut(2).zip(chunk) {
                pair.copy_from_slice(&[hex_digit(byte >> 4), hex_digit(byte & 0xf)]);
            }
            let written = digits
                .get(..chunk.len().saturating_mul(2))
                .unwrap_or_default();
            // ASCII digits are always UTF-8.
            self.0
                .write_str(std::str::from_utf8(written).map_err(|_| fmt::Error)?)?;
        }
        Ok(())
    }
}

/// The lowercase hex digit of `nibble` (0 to 15).
fn hex_digit(nibble: u8) -> u8 {
    match nibble {
        0..=9 => b'0'.saturating_add(nibble),
        _ => b'a'.saturating_add(nibble.saturating_sub(10)),
    }
}

/// `args` written as lowercase hex.
fn to_hex(args: fmt::Arguments<'_>) -> String {
    let mut out = String::with_capacity(96);
    // Writing into a `String` cannot fail.
    let _ = fmt::write(&mut Hex(&mut out), args);
    out
}

/// Displays a name as lowercase hex.
struct NameAsHex<'a>(&'a str);

impl fmt::Display for NameAsHex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Write::write_str(&mut Hex(f), self.0)
    }
}

impl Cursor {
    pub fn encode(&self) -> String {
        match self {
            Self::Created(at, id) => to_hex(format_args!(
                "c:{}:{}",
                at.as_datetime().timestamp(),
                id.simple()
            )),
            Self::Seq(n) => to_hex(format_args!("s:{n}")),
            Self::Catalog(key) => Self::encode_catalog(key),
        }
    }

    /// The encoding of `Cursor::Catalog(key)`, without taking `key` (a catalog page's next
    /// cursor is made from its last item's key).
    pub fn encode_catalog(key: &SortKey) -> String {
        match key {
            SortKey::SharedAt(secs, id) => to_hex(format_args!("t:{secs}:{}", id.simple())),
            // The name is hex inside the hex, so that a `:` in it cannot end it.
            SortKey::Name(name, id) => {
                to_hex(format_args!("n:{}:{}", NameAsHex(name), id.simple()))
            }
            SortKey::Endpoints(count, id) => to_hex(format_args!("e:{count}:{}", id.simple())),
            SortKey::Relevance(tier, secs, id) => {
                to_hex(format_args!("r:{tier}:{secs}:{}", id.simple()))
            }
        }
    }

    /// Decodes `after`; anything this server did not produce is a 400 naming `after`.
    pub fn decode(raw: &str) -> Result<Self, ApiError> {
        Self::try_decode(raw).ok_or_else(bad_cursor)
    }

    fn try_decode(raw: &str) -> Option<Self> {
        let plain = String::from_utf8(hex::decode(raw).ok()?).ok()?;
        let mut parts = plain.split(':');
        let cursor = match (parts.next()?, parts.next()?, parts.next()) {
            ("c", secs, Some(id)) => {
                let at = chrono::DateTime::from_timestamp(secs.parse().ok()?, 0)?;
                Self::Created(Timestamp::from(at), Uuid::try_parse(id).ok()?)
            }
            ("s", n, None) => Self::Seq(n.parse().ok().filter(|n: &i64| *n > 0)?),
            ("t", secs, Some(id)) => Self::Catalog(SortKey::SharedAt(
                secs.parse().ok()?,
                Uuid::try_parse(id).ok()?,
            )),
            ("e", count, Some(id)) => Self::Catalog(SortKey::Endpoints(
                count.parse().ok()?,
                Uuid::try_parse(id).ok()?,
            )),
            ("r", tier, Some(secs)) => {
                let tier: u8 = tier.parse().ok().filter(|t| *t < catalog::TIERS)?;
                let id = Uuid::try_parse(parts.next()?).ok()?;
                Self::Catalog(SortKey::Relevance(tier, secs.parse().ok()?, id))
            }
            ("n", name, Some(id)) => {
                let name = String::from_utf8(hex::decode(name).ok()?).ok()?;
                Self::Catalog(SortKey::Name(name, Uuid::try_parse(id).ok()?))
            }
            _ => return None,
        };
        parts.next().is_none().then_some(cursor)
    }

    /// The cursor `raw` (none or empty: the first page), which must be of the kind `pick`
    /// accepts: a cursor of another listing is refused like a forged one.
    fn decode_kind<T>(
        raw: Option<&str>,
        pick: impl FnOnce(Self) -> Option<T>,
    ) -> Result<Option<T>, ApiError> {
        match raw.filter(|r| !r.is_empty()) {
            None => Ok(None),
            Some(raw) => pick(Self::decode(raw)?).map(Some).ok_or_else(bad_cursor),
        }
    }

    pub fn created(raw: Option<&str>) -> Result<Option<(Timestamp, Uuid)>, ApiError> {
        Self::decode_kind(raw, |c| match c {
            Self::Created(at, id) => Some((at, id)),
            _ => None,
        })
    }

    pub fn catalog(raw: Option<&str>) -> Result<Option<SortKey>, ApiError> {
        Self::decode_kind(raw, |c| match c {
            Self::Catalog(key) => Some(key),
            _ => None,
        })
    }

    pub fn seq(raw: Option<&str>) -> Result<Option<i64>, ApiError> {
        Self::decode_kind(raw, |c| match c {
            Self::Seq(n) => Some(n),
            _ => None,
        })
    }
}

fn bad_cursor() -> ApiError {
    ApiError::invalid(
        "after",
        "`after` is not a valid cursor. Pass the `nextCursor` of the previous page.",
    )
}

/// `{"object": "list", "data": [...], "hasMore": bool, "nextCursor": string|null}`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct List<T> {
    /// Always `list`.
    #[schema(value_type = String, example = "list")]
    pub object: &'static str,
    pub data: Vec<T>,
    pub has_more: bool,
    /// Pass as `after` to get the next page; null on the last page.
    pub next_cursor: Option<String>,
}

impl<T> List<T> {
    /// A page; `cursor_of` gives the cursor of an item, used for the last one when more follow.
    pub fn page<S>(
        items: Vec<S>,
        has_more: bool,
        cursor_of: impl Fn(&S) -> Cursor,
        to_dto: impl Fn(S) -> T,
    ) -> Self {
        let next_cursor = if has_more {
            items.last().map(|last| cursor_of(last).encode())
        } else {
            None
        };
        Self {
            object: "list",
            data: items.into_iter().map(to_dto).collect(),
            has_more,
            next_cursor,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_is_what_the_hex_crate_writes() {
        for text in [
            "",
            "t:1:2",
            "n:Émile 3:ff",
            "\u{10FFFF}\0",
            "\u{7f}\u{80}\u{ff}",
        ] {
            assert_eq!(to_hex(format_args!("{text}")), hex::encode(text));
        }
    }

    /// Each cursor is written as it was when it was built from a plain text with
    /// `hex::encode` (cursors given out before stay valid, and equal keys give equal cursors).
    #[test]
    fn cursors_are_the_hex_of_their_plain_text() {
        let at = Timestamp::from(chrono::DateTime::from_timestamp(1_768_473_000, 0).unwrap());
        let id = Uuid::new_v4();
        let s = id.simple();
        let cases = [
            (Cursor::Created(at, id), format!("c:1768473000:{s}")),
            (Cursor::Seq(42), "s:42".to_owned()),
            (
                Cursor::Catalog(SortKey::SharedAt(-5, id)),
                format!("t:-5:{s}"),
            ),
            (
                Cursor::Catalog(SortKey::Name("Émile: 3 (8b)".into(), id)),
                format!("n:{}:{s}", hex::encode("Émile: 3 (8b)")),
            ),
            (
                Cursor::Catalog(SortKey::Name(String::new(), id)),
                format!("n::{s}"),
            ),
            (
                Cursor::Catalog(SortKey::Endpoints(7, id)),
                format!("e:7:{s}"),
            ),
            (
                Cursor::Catalog(SortKey::Relevance(2, 1_768_473_000, id)),
                format!("r:2:1768473000:{s}"),
            ),
        ];
        for (cursor, plain) in cases {
            assert_eq!(cursor.encode(), hex::encode(&plain), "{plain}");
        }
    }

    #[test]
    fn cursors_round_trip() {
        let at = Timestamp::from(chrono::DateTime::from_timestamp(1_768_473_000, 0).unwrap());
        let id = Uuid::new_v4();
        for c in [
            Cursor::Created(at, id),
            Cursor::Seq(42),
            Cursor::Catalog(SortKey::SharedAt(1_768_473_000, id)),
            Cursor::Catalog(SortKey::Name("llama: 3 (8b)".into(), id)),
            Cursor::Catalog(SortKey::Endpoints(7, id)),
        ] {
            assert_eq!(Cursor::decode(&c.encode()).unwrap(), c);
        }
    }

    /// A cursor of one listing is refused by another.
    #[test]
    fn each_listing_takes_only_its_own_cursors() {
        let id = Uuid::new_v4();
        let catalog = Cursor::Catalog(SortKey::Endpoints(7, id)).encode();
        assert!(Cursor::seq(Some(&catalog)).is_err());
        assert!(Cursor::created(Some(&catalog)).is_err());
        assert!(Cursor::catalog(Some(&Cursor::Seq(3).encode())).is_err());
        assert_eq!(
            Cursor::catalog(Some(&catalog)).unwrap(),
            Some(SortKey::Endpoints(7, id))
        );
        assert_eq!(Cursor::catalog(Some("")).unwrap(), None);
    }

    #[test]
    fn forged_cursors_are_refused_with_param() {
        for bad in [
            "",
            "zz",
            "abc",
            &hex::encode("c:1"),
            &hex::encode("s:-1"),
            &hex::encode("s:1:2"),
            &hex::encode("x:1"),
            &hex::encode("t:1"),
            &hex::encode("t:x:00000000000000000000000000000000"),
            &hex::encode("n:zz:00000000000000000000000000000000"),
            &hex::encode("e:1:2:00000000000000000000000000000000"),
        ] {
            let err = Cursor::decode(bad).unwrap_err();
            assert_eq!(err.param.as_deref(), Some("after"), "{bad}");
        }
    }

    #[test]
    fn unknown_and_repeated_parameters_are_refused() {
        assert_eq!(
            QueryParams::parse("limit=1&foo=2", &["limit"])
                .unwrap_err()
                .param
                .as_deref(),
            Some("foo")
        );
        assert_eq!(
            QueryParams::parse("limit=1&limit=2", &["limit"])
                .unwrap_err()
                .param
                .as_deref(),
            Some("limit")
        );
        assert!(QueryParams::parse("limit=1", &["limit"]).is_ok());
    }

    #[test]
    fn values_are_decoded_and_repeatable_ones_kept_in_order() {
        let query = "q=qwen+coder%21&tag=b%2Fc&tag=a&li%6Dit=3";
        let params = QueryParams::parse_repeating(query, &["q", "tag", "limit"], &["tag"]).unwrap();
        assert_eq!(params.get("q"), Some("qwen coder!"));
        assert_eq!(params.all("tag").collect::<Vec<_>>(), ["b/c", "a"]);
        // A key is compared once decoded, so an encoded one is the same key.
        assert_eq!(params.get("limit"), Some("3"));
        assert_eq!(params.get("sort"), None);
        assert_eq!(params.all("sort").count(), 0);
        let twice = QueryParams::parse_repeating("q=a&q=b", &["q", "tag"], &["tag"]);
        assert_eq!(twice.unwrap_err().param.as_deref(), Some("q"));
        let unknown = QueryParams::parse("sor%74=name", &["q"]).unwrap_err();
        assert_eq!(unknown.param.as_deref(), Some("sort"));
    }
}
