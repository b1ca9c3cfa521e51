//! The public catalog as web pages, rendered on the server with maud (which escapes every piece
//! of user text): `GET /catalog` ([`listing`]: facets with counts, ranked search, removable
//! filter chips, paging) and `GET /catalog/models/{modelId}` ([`model`]: one model and the
//! snippets that create an endpoint from it).
//!
//! The pages need no JavaScript: the listing is a plain GET form whose query string is the JSON
//! list's (parsed by the same [`super::catalog::browse_query`]), and every link is a URL. A few
//! lines of script enhance them where it runs (a facet click submits the form, a snippet gets a
//! copy button). Both pages are checked in headless Chromium, including an axe-core audit
//! (`tests/integration/browser.rs`).

mod listing;
mod model;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use maud::{DOCTYPE, Markup, PreEscaped, html};

use crate::app::AppState;
use crate::error::ApiError;

pub(crate) use listing::{__path_catalog_page, catalog_page};
pub(crate) use model::{__path_model_page, model_page};

/// One stylesheet for both pages. Colours keep a contrast of at least 4.5:1 for text.
const STYLE: &str = "
*{box-sizing:border-box}
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;background:#f6f7f9;color:#1d2330;line-height:1.45}
a{color:#2f4ac0}a:focus-visible,button:focus-visible,input:focus-visible,select:focus-visible,pre:focus-visible{outline:3px solid #f59f00;outline-offset:2px}
.skip{position:absolute;left:-999px;top:0;background:#fff;padding:8px 12px}.skip:focus{left:8px;z-index:2}
.sr-only{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
header.site{background:#1d2330;color:#fff;padding:16px 32px}
header.site .brand{margin:0;font-size:14px;letter-spacing:.04em;text-transform:uppercase}header.site .brand a{color:#d0d6e2;text-decoration:none}
header.site h1{margin:4px 0 0;font-size:24px}header.site p.lead{margin:4px 0 0;color:#c3c9d4;font-size:14px}
header.site code{color:#fff}
main{padding:20px 32px;max-width:1280px}
.layout{display:grid;grid-template-columns:270px 1fr;gap:24px;align-items:start}
@media (max-width:800px){.layout{grid-template-columns:1fr}}
form.filters{background:#fff;padding:14px 16px;border-radius:8px;box-shadow:0 1px 2px #0002}
form.filters h2{font-size:17px;margin:0 0 10px}
.field{display:flex;flex-direction:column;gap:3px;margin-bottom:12px;font-size:14px}
.field label{font-weight:600}
.field input,.field select{padding:6px 8px;border:1px solid #6b7280;border-radius:5px;font-size:14px;background:#fff;color:#1d2330}
fieldset.facet{border:0;border-top:1px solid #d6dae1;margin:0;padding:10px 0 6px}
fieldset.facet legend{font-weight:600;font-size:14px;padding:0 4px 0 0}
fieldset.facet ul{list-style:none;margin:4px 0 0;padding:0}
fieldset.facet li{display:flex;align-items:center;gap:6px;font-size:14px;padding:2px 0}
fieldset.facet label{display:flex;justify-content:space-between;flex:1;gap:8px;cursor:pointer;word-break:break-word}
.count{color:#4b5563;font-variant-numeric:tabular-nums}
.muted{color:#4b5563}
button{padding:7px 16px;border:0;border-radius:5px;background:#2f4ac0;color:#fff;font-size:14px;cursor:pointer}
.chips{display:flex;flex-wrap:wrap;gap:8px;align-items:center;margin:0 0 12px;padding:0;list-style:none}
a.chip{display:inline-flex;gap:6px;align-items:center;background:#e7ecff;color:#1d2f8a;border:1px solid #b4c1f5;border-radius:14px;padding:2px 10px;font-size:13px;text-decoration:none}
a.chip:hover{background:#d5ddff}
.results h2{margin:0 0 10px;font-size:18px}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(300px,1fr));gap:14px;list-style:none;margin:0;padding:0}
.card{background:#fff;border-radius:8px;padding:14px 16px;box-shadow:0 1px 2px #0002;height:100%}
.card h3{margin:0 0 6px;font-size:16px;word-break:break-word}.card p{margin:0 0 10px;color:#374151;font-size:14px}
dl.facts{display:grid;grid-template-columns:auto 1fr;gap:3px 12px;margin:0;font-size:14px}dl.facts dt{color:#4b5563}dl.facts dd{margin:0;word-break:break-word}
.card dl.facts{font-size:13px}
.tag{display:inline-block;background:#e7ecff;color:#1d2f8a;border-radius:10px;padding:1px 8px;margin:0 4px 4px 0;font-size:12px}
.empty,.error{background:#fff;padding:16px 20px;border-radius:8px;margin:0 0 14px}.error{color:#a61e1e;border-left:4px solid #c92a2a}
nav.pages{margin:24px 0;display:flex;gap:16px}
.panel{background:#fff;border-radius:8px;padding:16px 20px;box-shadow:0 1px 2px #0002;margin-bottom:18px}
.panel h2{margin:0 0 10px;font-size:18px}.panel h3{margin:16px 0 6px;font-size:15px}
pre{background:#111827;color:#f3f4f6;padding:12px 14px;border-radius:6px;overflow-x:auto;font-size:13px;margin:0}
.snippet{position:relative}.snippet button{position:absolute;top:6px;right:6px;padding:4px 10px;font-size:12px}
nav.crumbs{font-size:14px;margin-bottom:8px}
";

/// A whole page: the site header (with `heading` as the page's only `h1`), then `content` in
/// `main`. `script`, when given, runs at the end of the body (progressive enhancement only).
fn layout(
    title: &str,
    heading: &str,
    lead: Markup,
    content: Markup,
    script: Option<&str>,
) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · modelshare" }
                style { (PreEscaped(STYLE)) }
            }
            body {
                a.skip href="#content" { "Skip to content" }
                header.site {
                    p.brand { a href="/catalog" { "modelshare · public catalog" } }
                    h1 { (heading) }
                    p.lead { (lead) }
                }
                main #content tabindex="-1" { (content) }
                @if let Some(script) = script {
                    script { (PreEscaped(script)) }
                }
            }
        }
    }
}

/// An HTML response.
fn html_response(status: StatusCode, page: Markup) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(page.into_string())
}

/// The checks every catalog page makes first: 404 when public browsing is off, and the
/// anonymous rate limit by address.
fn admit(req: &HttpRequest, state: &AppState) -> Result<(), ApiError> {
    if !state.public_browse {
        return Err(ApiError::from_status(StatusCode::NOT_FOUND));
    }
    if let Some(peer) = req.peer_addr() {
        state.rate_limits.check_ip(peer.ip())?;
    }
    Ok(())
}

/// 8030000000 → "8.0B".
fn human(n: i64) -> String {
    #[allow(
        clippy::cast_precision_loss,
        clippy::as_conversions,
        reason = "shown rounded to one decimal"
    )]
    let f = n as f64;
    match n {
        n if n >= 1_000_000_000 => format!("{:.1}B", f / 1e9),
        n if n >= 1_000_000 => format!("{:.1}M", f / 1e6),
        n if n >= 1_000 => format!("{:.1}K", f / 1e3),
        n => n.to_string(),
    }
}

/// 8192 → "8K" (K = 1,024 tokens), 5000 → "5,000".
fn tokens(n: i64) -> String {
    if n >= 1024 && n % 1024 == 0 {
        format!("{}K", n / 1024)
    } else {
        grouped(n)
    }
}

/// 8030000000 → "8,030,000,000".
fn grouped(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if n < 0 {
        out.push('-');
    }
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_like_people_write_them() {
        assert_eq!(human(8_030_000_000), "8.0B");
        assert_eq!(human(125_000_000), "125.0M");
        assert_eq!(human(999), "999");
        assert_eq!(tokens(8192), "8K");
        assert_eq!(tokens(131_072), "128K");
        assert_eq!(tokens(5000), "5,000");
        assert_eq!(grouped(8_030_000_000), "8,030,000,000");
        assert_eq!(grouped(12), "12");
        assert_eq!(grouped(-1234), "-1,234");
    }
}
