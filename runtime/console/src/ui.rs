//! The web console: its pages' files (HTML, CSS, JavaScript modules in
//! `web/`), compiled into the binary and served at `/` and `/ui/<file>`
//! behind the same checks as the API (Host, token), so that there is
//! nothing to deploy and nothing is fetched at run time.

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::error::{ApiError, ErrorCode};

/// One file of the console.
pub(crate) struct Asset {
    /// Its name under `web/` (and `/ui/`).
    pub(crate) name: &'static str,
    /// Its `Content-Type`.
    pub(crate) content_type: &'static str,
    /// Its bytes, as compiled in.
    pub(crate) body: &'static [u8],
}

macro_rules! assets {
    ($($name:literal => $type:expr),* $(,)?) => {
        &[$(Asset { name: $name, content_type: $type, body: include_bytes!(concat!("../web/", $name)) }),*]
    };
}

const JS: &str = "text/javascript; charset=utf-8";

/// Every file the pages load; a test checks that it is every file in
/// `web/` (but `package.json`, which only tells node the modules are ES
/// modules).
pub(crate) const ASSETS: &[Asset] = assets![
    "index.html" => "text/html; charset=utf-8",
    "style.css" => "text/css; charset=utf-8",
    "app.js" => JS,
    "api.js" => JS,
    "dom.js" => JS,
    "layout.js" => JS,
    "overview.js" => JS,
    "runs.js" => JS,
    "run.js" => JS,
    "views.js" => JS,
    "charts.js" => JS,
    "workflows.js" => JS,
    "events.js" => JS,
];

/// What the pages may load: only this server's own files and API, no
/// inline script, no frames.
const POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                      connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

/// The routes of the pages: `/` (the shell, whose script routes by the
/// URL's `#` part) and `/ui/{file}`.
pub(crate) fn router() -> Router {
    Router::new()
        .route("/", get(index))
        .route("/ui/{*file}", get(file))
}

async fn index() -> Response {
    serve(find("index.html").expect("index.html is an asset"))
}

async fn file(Path(name): Path<String>) -> Response {
    match find(&name) {
        Some(asset) => serve(asset),
        None => ApiError::new(
            ErrorCode::NotFound,
            format!("the console has no file `{}`", crate::extract::clip(&name)),
        )
        .into_response(),
    }
}

fn find(name: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|asset| asset.name == name)
}

fn serve(asset: &'static Asset) -> Response {
    let mut response = asset.body.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    // The files change with the binary, which a browser cannot tell from
    // the URL: it asks again each time (a cheap, local request).
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(POLICY),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_in_web_is_served_and_all_of_them_stay_small() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("web");
        let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
            .expect("web/")
            .map(|entry| {
                entry
                    .expect("an entry")
                    .file_name()
                    .into_string()
                    .expect("a name")
            })
            .filter(|name| name != "package.json")
            .collect();
        on_disk.sort();
        let mut served: Vec<String> = ASSETS.iter().map(|asset| asset.name.to_owned()).collect();
        served.sort();
        assert_eq!(on_disk, served, "web/ and ASSETS differ");
        let total: usize = ASSETS.iter().map(|asset| asset.body.len()).sum();
        assert!(
            total < 200 * 1024,
            "the console's files weigh {total} bytes"
        );
    }

    async fn get(router: &Router, path: &str, token: Option<&str>, host: &str) -> Response {
        use tower::ServiceExt;
        let mut request = axum::http::Request::get(path).header(header::HOST, host);
        if let Some(token) = token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let request = request.body(axum::body::Body::empty()).expect("a request");
        router.clone().oneshot(request).await.expect("an answer")
    }

    #[tokio::test]
    async fn the_pages_are_served_behind_the_token_and_the_host_check() {
        let engine = durable::Engine::builder()
            .sqlite_memory()
            .start()
            .await
            .expect("an engine");
        let router = crate::Console::new(&engine).token("t0ken").router();
        let index = get(&router, "/", Some("t0ken"), "localhost:7777").await;
        assert_eq!(index.status(), 200);
        assert_eq!(
            index.headers()[header::CONTENT_TYPE],
            "text/html; charset=utf-8"
        );
        assert!(
            index.headers()[header::CONTENT_SECURITY_POLICY]
                .to_str()
                .expect("text")
                .contains("script-src 'self'")
        );
        let body = axum::body::to_bytes(index.into_body(), usize::MAX)
            .await
            .expect("a body");
        assert!(
            std::str::from_utf8(&body)
                .expect("utf-8")
                .contains("/ui/app.js")
        );
        let script = get(&router, "/ui/layout.js", Some("t0ken"), "127.0.0.1:7777").await;
        assert_eq!(script.status(), 200);
        assert_eq!(script.headers()[header::CONTENT_TYPE], JS);
        let missing = get(&router, "/ui/secrets.txt", Some("t0ken"), "localhost").await;
        assert_eq!(missing.status(), 404);
        let outside = get(&router, "/ui/../Cargo.toml", Some("t0ken"), "localhost").await;
        assert_eq!(outside.status(), 404);
        assert_eq!(get(&router, "/", None, "localhost").await.status(), 401);
        assert_eq!(
            get(&router, "/ui/app.js", Some("wrong"), "localhost")
                .await
                .status(),
            401
        );
        assert_eq!(
            get(&router, "/", Some("t0ken"), "evil.example")
                .await
                .status(),
            403
        );
        engine.shutdown().await;
    }

    #[test]
    fn modules_import_only_files_that_are_served() {
        for asset in ASSETS.iter().filter(|asset| asset.name.ends_with(".js")) {
            let text = std::str::from_utf8(asset.body).expect("utf-8");
            for line in text
                .lines()
                .filter(|line| line.trim_start().starts_with("import "))
            {
                let Some(from) = line.split(" from ").nth(1) else {
                    continue;
                };
                let target = from.trim().trim_end_matches(';').trim_matches('"');
                let name = target.trim_start_matches("./");
                assert!(find(name).is_some(), "{} imports {target}", asset.name);
            }
        }
    }
}
