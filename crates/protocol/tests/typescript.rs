//! The web client's wire types (`web/src/generated/`) are generated from
//! these Rust types, so the two cannot drift apart: this test generates them
//! again and fails on any difference. After changing a wire type, run
//! `SOPORTE_REGENERATE=1 cargo test -p soporte-protocol --test typescript`
//! and commit what changed.

use soporte_protocol::{client, rest, server, webhook, ClientFrame, CloseReason, ServerFrame};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use ts_rs::{Config, TS};

fn generated_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../web/src/generated")
}

/// Every type the wire carries, with what it depends on.
fn export_all(dir: &Path) {
    // Ids and counters fit in a JavaScript number (2^53), as the seed's client reads them.
    let cfg = Config::new().with_large_int("number").with_out_dir(dir);
    macro_rules! export {
        ($($t:ty),* $(,)?) => { $( <$t>::export_all(&cfg).expect(stringify!($t)); )* };
    }
    export!(
        ServerFrame,
        ClientFrame,
        client::FileUploadRequest,
        server::TicketChange,
        soporte_protocol::SystemEvent,
        rest::CreateTicket,
        rest::TicketList,
        rest::HistoryPage,
        rest::SyncRequest,
        rest::SyncResponse,
        rest::MarkReadRequest,
        rest::MarkReadResponse,
        rest::ChatStats,
        rest::AssignRequest,
        rest::TransferRequest,
        rest::StateRequest,
        rest::AvailabilityRequest,
        rest::CannedResponse,
        rest::CannedResponseInput,
        rest::TeamStats,
        rest::CsatRequest,
        rest::TranscriptRequest,
        rest::TranscriptQueued,
        rest::Me,
        rest::QueueStatus,
        rest::SearchField,
        rest::SearchHit,
        rest::SearchResults,
        rest::MeUpdate,
        rest::EditInput,
        rest::MessageHistory,
        soporte_protocol::hours::BusinessHours,
        soporte_protocol::hours::HoursStatus,
        rest::ErrorBody,
        rest::UserInput,
        rest::UserView,
        rest::UserExport,
        rest::ErasureRecord,
        webhook::WebhookInput,
        webhook::WebhookList,
        webhook::DeliveryList,
        webhook::WebhookEvent,
        webhook::TicketEventData,
        webhook::CsatEventData,
        webhook::MessageEventData,
        webhook::MessageChangedData,
        webhook::FileEventData,
        webhook::UserErasedData,
    );
}

/// The close codes the server sends, as a constant clients switch on.
fn export_close_codes(dir: &Path) {
    let mut text = String::from(
        "// Generated from crates/protocol/src/close.rs by its typescript test. Do not edit.\n\n\
         /** The closes the server sends on its own account. 4000-4099: final; 4100-4199: reconnect. */\n\
         export const ServerClose = {\n",
    );
    for (name, close) in CloseReason::ALL {
        let reason = serde_json::to_string(close.reason).unwrap();
        text.push_str(&format!(
            "  {name}: {{ code: {}, reason: {reason} }},\n",
            close.code
        ));
    }
    text.push_str("} as const;\n");
    std::fs::write(dir.join("closeCodes.ts"), text).unwrap();
}

/// Path (relative to `dir`) to contents, for every `.ts` file under `dir`.
fn read_tree(dir: &Path) -> BTreeMap<String, String> {
    let mut files = BTreeMap::new();
    let mut folders = vec![dir.to_path_buf()];
    while let Some(folder) = folders.pop() {
        let Ok(entries) = std::fs::read_dir(&folder) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                folders.push(path);
            } else if path.extension().is_some_and(|e| e == "ts") {
                let name = path
                    .strip_prefix(dir)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                files.insert(name, std::fs::read_to_string(&path).unwrap());
            }
        }
    }
    files
}

#[test]
fn the_web_clients_wire_types_are_generated_from_these() {
    let fresh = tempfile_dir();
    export_all(&fresh);
    export_close_codes(&fresh);
    let expected = read_tree(&fresh);
    let committed_dir = generated_dir();
    if std::env::var_os("SOPORTE_REGENERATE").is_some() {
        let _ = std::fs::remove_dir_all(&committed_dir);
        std::fs::create_dir_all(&committed_dir).unwrap();
        for (name, text) in &expected {
            let path = committed_dir.join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
    }
    let committed = read_tree(&committed_dir);
    let stale: std::collections::BTreeSet<&String> = expected
        .keys()
        .chain(committed.keys())
        .filter(|name| expected.get(*name) != committed.get(*name))
        .collect();
    let _ = std::fs::remove_dir_all(&fresh);
    assert!(
        stale.is_empty(),
        "web/src/generated is out of date ({stale:?}): run \
         `SOPORTE_REGENERATE=1 cargo test -p soporte-protocol --test typescript` and commit it"
    );
}

fn tempfile_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("soporte-ts-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
