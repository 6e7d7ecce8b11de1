//! The web UI's TypeScript types are generated from `ui/src/api/openapi.json`,
//! a committed copy of the document this server generates. This test fails
//! when the copy is stale; `CREMA_UPDATE_OPENAPI=1 cargo test -p crema-server
//! --test openapi_file` rewrites it (then run `npm --prefix ui run gen:types`).

use std::path::Path;

#[test]
fn committed_openapi_document_is_current() {
    let doc = serde_json::to_string_pretty(&crema_server::openapi::document()).expect("serialize");
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../ui/src/api/openapi.json");
    if std::env::var_os("CREMA_UPDATE_OPENAPI").is_some() {
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, format!("{doc}\n")).expect("write");
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed.trim_end() == doc.trim_end(),
        "{} is stale: run `CREMA_UPDATE_OPENAPI=1 cargo test -p crema-server --test openapi_file` \
         and `npm --prefix ui run gen:types`, then commit both",
        path.display()
    );
}
