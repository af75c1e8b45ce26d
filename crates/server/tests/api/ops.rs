use crate::helpers::*;
use soporte_server::auth::Verifier;

#[tokio::test]
async fn health_readiness_and_metrics_answer() {
    let database = TestDb::new().await;
    let on_sqlite = database.postgres().is_none();
    let app = spawn_on(&database, Verifier::hs256(SECRET).unwrap(), |_| {}).await;
    let health = app.http.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let ready: serde_json::Value = app
        .http
        .get(app.url("/readyz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["status"], "ready");
    let ticket = app.ticket_for(&customer(1)).await;
    let mut ws = app.connect(ticket, &customer(1)).await;
    ws.expect("connection_established").await;
    ws.send_message("hola", "c1").await;
    ws.expect("mensaje_confirmado").await;
    ws.send_raw("no es json").await;
    ws.expect("error").await;
    // Closes, by who ended it: the client here, the server (1009) next.
    ws.close().await;
    let mut big = app.connect(ticket, &customer(1)).await;
    big.expect("connection_established").await;
    big.send_raw(&"x".repeat(300 * 1024)).await;
    assert_eq!(
        big.closed_within(std::time::Duration::from_secs(3))
            .await
            .code,
        Some(1009)
    );
    let metrics = app
        .metrics_when(|m| {
            m.contains("soporte_ws_closes_total{code=\"peer\"}")
                && m.contains("soporte_ws_closes_total{code=\"1009\"}")
        })
        .await;
    // Labelled by route template, method and status; by refusal code.
    for series in [
        "soporte_http_requests_total{route=\"/api/soporte/tickets/\",method=\"POST\",status=\"201\"} 1",
        "soporte_http_requests_total{route=\"/readyz\",method=\"GET\",status=\"200\"} 1",
        "soporte_frames_refused_total{codigo=\"json_invalido\"} 1",
        "soporte_ws_closes_total{code=\"peer\"} 1",
        "soporte_ws_closes_total{code=\"1009\"} 1",
    ] {
        assert!(metrics.lines().any(|l| l == series), "{series} in {metrics}");
    }
    for name in [
        "soporte_connections_open",
        "soporte_messages_committed_total",
        "soporte_commit_seconds_bucket",
        "soporte_writer_queue_depth",
        "soporte_heap_in_use_bytes",
        "soporte_heap_free_bytes",
        "soporte_tasks_alive",
        "soporte_wal_restarts_total",
        "soporte_wal_restart_seconds_total",
        "process_resident_memory_bytes",
        "process_open_fds",
        "process_cpu_seconds_total",
        "process_start_time_seconds",
    ] {
        assert!(metrics.contains(name), "missing {name}");
    }
    let value = |name: &str| -> f64 {
        metrics
            .lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .and_then(|l| l.split(' ').nth(1))
            .unwrap()
            .parse()
            .unwrap()
    };
    assert!(value("soporte_messages_committed_total") >= 1.0);
    // Which build answers: the version and commit `--version` prints.
    let build = format!(
        "soporte_build_info{{version=\"{}\",commit=\"",
        env!("CARGO_PKG_VERSION")
    );
    assert!(metrics.contains(&build), "{metrics}");
    // What SQLite's caches hold, reported by the store that has them.
    assert_eq!(
        metrics.contains("soporte_sqlite_memory_bytes"),
        on_sqlite,
        "SQLite's memory is reported by the SQLite store only"
    );
    // At least the socket's session and the server's accept loop.
    assert!(value("soporte_tasks_alive") >= 2.0);
    // On SQLite, its page caches and statements are in the heap, and the
    // commits appended pages to the WAL.
    if on_sqlite {
        assert!(value("soporte_sqlite_memory_bytes") > 0.0);
        assert!(value("soporte_wal_frames_total") > 0.0);
    }
}

/// The OpenAPI document is checked against the running server, so it cannot
/// drift: every path the REST modules register is in it (read from their
/// sources), each documented path answers exactly the documented methods
/// (a method the router lacks answers 405), every operation has a success
/// response whose body has a schema, every write takes a documented body
/// (or is listed here as taking none), and every `$ref` resolves.
#[tokio::test]
async fn the_openapi_document_matches_the_routes_and_has_their_schemas() {
    let app = spawn_app().await;
    let doc: serde_json::Value = app
        .http
        .get(app.url("/api/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();

    // Every route the REST modules register, read from their sources, so a
    // new endpoint without its entry fails here.
    let http = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/http");
    let mut routes = vec!["/healthz".to_string(), "/readyz".into(), "/metrics".into()];
    for entry in std::fs::read_dir(http).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let source = std::fs::read_to_string(path).unwrap();
        for piece in source.split("\"/api/soporte/").skip(1) {
            let rest = piece.split('"').next().unwrap();
            routes.push(format!("/api/soporte/{rest}"));
        }
    }
    assert!(routes.len() > 30, "{routes:?}");
    for path in &routes {
        assert!(
            paths.contains_key(path),
            "{path} missing from the OpenAPI document"
        );
    }

    // The methods each path answers, asked of the server itself.
    const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];
    // Writes that take no body.
    const BODILESS: [(&str, &str); 1] = [(
        "post",
        "/api/soporte/webhooks/{id}/entregas/{entrega}/reenviar/",
    )];
    let mut problems = Vec::new();
    for (path, item) in paths {
        // Path parameters as a client would fill them.
        let concrete: Vec<&str> = path
            .split('/')
            .map(|segment| match segment.starts_with('{') {
                true => "1",
                false => segment,
            })
            .collect();
        let concrete = concrete.join("/");
        for method in METHODS {
            let status = app
                .http
                .request(method.to_uppercase().parse().unwrap(), app.url(&concrete))
                .send()
                .await
                .unwrap()
                .status();
            let routed = status != 405 && status != 404;
            let documented = item.get(method).is_some();
            if routed != documented {
                problems.push(format!(
                    "{} {path}: documented {documented}, the server answers {status}",
                    method.to_uppercase()
                ));
            }
            let Some(operation) = item.get(method) else {
                continue;
            };
            let responses = operation["responses"].as_object().unwrap();
            let successes: Vec<_> = responses
                .iter()
                .filter(|(code, _)| code.starts_with('2'))
                .collect();
            if successes.is_empty() {
                problems.push(format!("{method} {path}: no success response"));
            }
            for (code, response) in successes {
                let content = response["content"].as_object();
                match content {
                    Some(content) => {
                        for (kind, body) in content {
                            if body.get("schema").is_none() {
                                problems.push(format!("{method} {path} {code} {kind}: no schema"));
                            }
                        }
                    }
                    None if code == "204" || code == "202" => {}
                    None => problems.push(format!("{method} {path} {code}: no body described")),
                }
            }
            let writes = matches!(method, "post" | "put" | "patch");
            let body = operation["requestBody"]["content"].as_object();
            let bodiless = BODILESS.contains(&(method, path.as_str()));
            match (writes, body) {
                (true, None) if !bodiless => {
                    problems.push(format!("{method} {path}: no request body described"))
                }
                (true, Some(body)) if body.values().any(|b| b.get("schema").is_none()) => {
                    problems.push(format!("{method} {path}: a request body without schema"))
                }
                _ => {}
            }
        }
    }
    // Every reference points at a schema, parameter or response that exists.
    fn refs<'a>(value: &'a serde_json::Value, found: &mut Vec<&'a str>) {
        match value {
            serde_json::Value::Object(map) => {
                if let Some(target) = map.get("$ref").and_then(|r| r.as_str()) {
                    found.push(target);
                }
                map.values().for_each(|v| refs(v, found));
            }
            serde_json::Value::Array(items) => items.iter().for_each(|v| refs(v, found)),
            _ => {}
        }
    }
    let mut found = Vec::new();
    refs(&doc, &mut found);
    assert!(found.len() > 50);
    for target in found {
        let pointer = target.trim_start_matches('#');
        if doc.pointer(pointer).is_none() {
            problems.push(format!("{target} does not resolve"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The pages a binary serves: embedded at build time (see build.rs), so they
/// are there whatever the working folder. Fails on a binary built before the
/// web (`scripts/build-web`), which serves none.
async fn embedded_pages_are_served(http: &reqwest::Client, base: &str) {
    use std::io::Read;
    let get = |path: &str, encoding: Option<&'static str>| {
        let mut request = http.get(format!("{base}{path}"));
        if let Some(encoding) = encoding {
            request = request.header("accept-encoding", encoding);
        }
        async move { request.send().await.unwrap() }
    };
    let page = get("/", None).await;
    assert_eq!(page.status(), 200);
    assert!(page.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert!(page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("frame-ancestors 'none'"));
    assert_eq!(page.headers()["cache-control"], "no-cache");
    let html = page.text().await.unwrap();
    assert!(
        html.contains("<div id=\"root\">"),
        "not the built customer page (is web/dist-demo built?): {html}"
    );
    let console = get("/agente/", None).await;
    assert_eq!(console.status(), 200);
    assert!(console.text().await.unwrap().contains("/assets/"));

    // A hashed script of the page: compressed, cached for good, revalidated
    // with its ETag.
    let script = html
        .split('"')
        .find(|piece| piece.starts_with("/assets/") && piece.ends_with(".js"))
        .unwrap_or_else(|| panic!("no script in {html}"))
        .to_string();
    let plain = get(&script, None).await;
    assert_eq!(plain.status(), 200);
    assert!(plain.headers().get("content-encoding").is_none());
    assert_eq!(
        plain.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    let etag = plain.headers()["etag"].to_str().unwrap().to_string();
    let plain = plain.bytes().await.unwrap();

    let gzip = get(&script, Some("gzip")).await;
    assert_eq!(gzip.headers()["content-encoding"], "gzip");
    let packed = gzip.bytes().await.unwrap();
    assert!(
        packed.len() * 2 < plain.len(),
        "{} vs {}",
        packed.len(),
        plain.len()
    );
    let mut unpacked = Vec::new();
    flate2::read::GzDecoder::new(&packed[..])
        .read_to_end(&mut unpacked)
        .unwrap();
    assert_eq!(unpacked, plain);

    let brotli = get(&script, Some("gzip;q=0.5, br")).await;
    assert_eq!(brotli.headers()["content-encoding"], "br");
    assert!(brotli.bytes().await.unwrap().len() < packed.len());

    let again = http
        .get(format!("{base}{script}"))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    assert!(again.bytes().await.unwrap().is_empty());

    // The page's styles likewise.
    let styles = html
        .split('"')
        .find(|piece| piece.starts_with("/assets/") && piece.ends_with(".css"))
        .unwrap_or_else(|| panic!("no stylesheet in {html}"))
        .to_string();
    let css = get(&styles, Some("gzip")).await;
    assert_eq!(css.status(), 200);
    assert_eq!(css.headers()["content-encoding"], "gzip");
    assert!(css.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/css"));
    assert!(css.headers().contains_key("etag"));

    // The widget's stable URLs are cached briefly; its panel may be framed.
    let loader = get("/widget.js", Some("br")).await;
    assert_eq!(loader.status(), 200);
    assert_eq!(loader.headers()["cache-control"], "public, max-age=300");
    assert_eq!(get("/widget/", None).await.status(), 200);
    assert_eq!(get("/assets/missing.js", None).await.status(), 404);

    // The API is left as it is: JSON answers are small and often private.
    let health = get("/healthz", Some("gzip")).await;
    assert!(health.headers().get("content-encoding").is_none());
}

#[tokio::test]
async fn the_web_pages_are_served_compressed_with_etags() {
    let app = spawn_app().await;
    embedded_pages_are_served(&app.http, &app.url("")).await;
}

/// The binary alone, started in an empty folder, serves both pages: nothing
/// beside it is needed (what the release tarball ships).
#[tokio::test]
async fn the_binary_serves_its_pages_from_an_empty_folder() {
    let folder = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_soporte"))
        .args(["serve", "--bind", "127.0.0.1:0"])
        .current_dir(folder.path())
        .env_remove("SOPORTE_WEB_DIR")
        .env("SOPORTE_JWT_SECRET", SECRET)
        .env("SOPORTE_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let addr = listening_addr(&mut child);
    let http = reqwest::Client::new();
    embedded_pages_are_served(&http, &format!("http://{addr}")).await;
    child.kill().unwrap();
    child.wait().unwrap();
    let entries: Vec<_> = std::fs::read_dir(folder.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(entries, ["data"], "only its data folder is written");
}

/// With `--metrics-bind`, `/metrics` (business volume, rate-limit counters)
/// is served on that address alone and no longer on the chat port a proxy
/// exposes.
#[tokio::test]
async fn metrics_can_be_kept_off_the_chat_port() {
    let app = spawn_with(|c| c.metrics_bind = Some("127.0.0.1:0".parse().unwrap())).await;
    let get = |url: String| {
        let http = app.http.clone();
        async move { http.get(url).send().await.unwrap() }
    };
    assert_eq!(get(app.url("/metrics")).await.status(), 404);
    assert_eq!(get(app.url("/healthz")).await.status(), 200);
    let apart = app.metrics_addr.expect("a metrics address");
    let metrics = get(format!("http://{apart}/metrics")).await;
    assert_eq!(metrics.status(), 200);
    assert!(metrics
        .text()
        .await
        .unwrap()
        .contains("soporte_connections_open"));
    // Nothing else is served there.
    assert_eq!(get(format!("http://{apart}/healthz")).await.status(), 404);
    assert_eq!(
        get(format!("http://{apart}/api/soporte/tickets/"))
            .await
            .status(),
        404
    );
}

fn soporte(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_soporte"));
    command.args(args).env_remove("SOPORTE_JWT_SECRET");
    for (name, value) in env {
        command.env(name, value);
    }
    command.output().expect("the soporte binary runs")
}

#[test]
fn the_version_names_the_build() {
    let out = soporte(&["--version"], &[]);
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    // `soporte 0.1.0 (<12 hex digits>)`, or `(unknown)` outside a checkout.
    let commit = text
        .trim()
        .strip_prefix(&format!("soporte {} (", env!("CARGO_PKG_VERSION")))
        .and_then(|rest| rest.strip_suffix(')'))
        .unwrap_or_else(|| panic!("{text:?}"));
    assert!(
        commit == "unknown"
            || (commit.len() == 12 && commit.chars().all(|c| c.is_ascii_hexdigit())),
        "{commit:?}"
    );
}

/// Secrets may come from files (`<NAME>_FILE`, as Docker and Kubernetes
/// mount them): the value is the file's text without its final newline.
#[test]
fn secrets_can_be_read_from_files() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("jwt");
    std::fs::write(&file, format!("{SECRET}\n")).unwrap();
    let path = file.to_str().unwrap();
    let token_args = ["token", "--sub", "7", "--name", "Ana", "--role", "CLIENTE"];
    let out = soporte(&token_args, &[("SOPORTE_JWT_SECRET_FILE", path)]);
    assert!(out.status.success(), "{out:?}");
    let token = String::from_utf8(out.stdout).unwrap();
    let claims = soporte_server::auth::Verifier::hs256(SECRET)
        .unwrap()
        .verify(token.trim())
        .expect("signed with the file's secret, newline dropped");
    assert_eq!(claims.id, 7);
    // Both, a missing file, an empty one: one line saying which, exit 1.
    std::fs::write(dir.path().join("empty"), "\n").unwrap();
    let empty = dir.path().join("empty");
    for (env, says) in [
        (
            vec![
                ("SOPORTE_JWT_SECRET_FILE", path),
                ("SOPORTE_JWT_SECRET", SECRET),
            ],
            "both set",
        ),
        (
            vec![("SOPORTE_JWT_SECRET_FILE", "/nonexistent/jwt")],
            "cannot read",
        ),
        (
            vec![("SOPORTE_JWT_SECRET_FILE", empty.to_str().unwrap())],
            "is empty",
        ),
        (
            vec![("SOPORTE_DATABASE_URL_FILE", "/nonexistent/db")],
            "SOPORTE_DATABASE_URL_FILE",
        ),
    ] {
        let out = soporte(&token_args, &env);
        assert_eq!(out.status.code(), Some(1), "{out:?}");
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.starts_with("soporte: ") && err.contains(says), "{err}");
    }
}

/// `soporte serve --help` groups its settings; a misspelt flag is told the
/// one it probably meant.
#[test]
fn the_help_is_grouped_and_a_typo_gets_a_suggestion() {
    let out = soporte(&["serve", "--help"], &[]);
    assert!(out.status.success(), "{out:?}");
    let help = String::from_utf8(out.stdout).unwrap();
    let headings: Vec<&str> = help
        .lines()
        .filter(|l| l.ends_with(':') && !l.starts_with(' '))
        .collect();
    for heading in [
        "Network:",
        "Storage:",
        "Tokens:",
        "Storage quotas and retention:",
        "Limits:",
        "Webhooks:",
        "Chat:",
        "Logging and development:",
    ] {
        assert!(headings.contains(&heading), "{heading} in {headings:?}");
    }
    // Only --help is left outside a group.
    let ungrouped = help
        .split("Options:")
        .nth(1)
        .and_then(|rest| rest.split("Network:").next())
        .unwrap();
    assert_eq!(ungrouped.matches("--").count(), 1, "{ungrouped}");
    let out = soporte(&["serve", "--max-conections", "3"], &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("'--max-connections'"), "{err}");
}

/// `soporte healthcheck` (the container image's probe): 0 for a ready
/// server, 1 with a one-line reason for anything else.
#[tokio::test]
async fn the_healthcheck_command_tells_ready_from_not() {
    let app = spawn_app().await;
    let run = |url: String| async move {
        tokio::task::spawn_blocking(move || {
            // Generous: a loaded CI machine may take seconds to answer.
            soporte(&["healthcheck", "--url", &url, "--timeout", "20s"], &[])
        })
        .await
        .unwrap()
    };
    let ready = run(app.url("/readyz")).await;
    assert!(
        ready.status.success(),
        "{}",
        String::from_utf8_lossy(&ready.stderr)
    );
    let missing = run(app.url("/nowhere")).await;
    assert_eq!(missing.status.code(), Some(1));
    let said = String::from_utf8(missing.stderr).unwrap();
    assert!(said.contains("answered 404"), "{said}");
    assert_eq!(said.lines().count(), 1, "{said}");
    let down = run("http://127.0.0.1:9/readyz".into()).await;
    assert_eq!(down.status.code(), Some(1));
    let said = String::from_utf8(down.stderr).unwrap();
    assert!(
        said.starts_with("soporte: healthcheck: http://127.0.0.1:9/readyz did not answer"),
        "{said}"
    );
}

/// The log, read as an operator's collector reads it (stderr to a pipe): one
/// access line per request at INFO with its id and route, the same id on
/// the warning written while answering it, and no colour codes.
#[tokio::test]
async fn the_access_log_ties_each_request_id_to_its_warnings_without_colour() {
    let folder = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_soporte"))
        // A Redis nobody listens on: /readyz answers 503 and warns why.
        .args([
            "serve",
            "--bind",
            "127.0.0.1:0",
            "--redis-url",
            "redis://127.0.0.1:1",
        ])
        .current_dir(folder.path())
        .env("SOPORTE_JWT_SECRET", SECRET)
        .env("SOPORTE_LOG", "info")
        .env_remove("SOPORTE_LOG_FORMAT")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let addr = listening_addr(&mut child);
    let answer = reqwest::Client::new()
        .get(format!("http://{addr}/readyz"))
        .header("x-request-id", "probe-7f3a")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 503);
    assert_eq!(answer.headers()["x-request-id"], "probe-7f3a");
    // SIGTERM: the server stops and its log ends.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let output = child.wait_with_output().unwrap();
    let log = String::from_utf8(output.stderr).unwrap();
    assert!(!log.contains('\x1b'), "colour codes in a piped log:\n{log}");
    let mine: Vec<&str> = log.lines().filter(|l| l.contains("probe-7f3a")).collect();
    let warning = mine
        .iter()
        .find(|l| l.contains("WARN") && l.contains("not ready: Redis"));
    assert!(warning.is_some(), "no warning with the request id:\n{log}");
    let access = mine
        .iter()
        .find(|l| l.contains("INFO") && l.contains("http request"))
        .unwrap_or_else(|| panic!("no access line:\n{log}"));
    assert!(access.contains("route=\"/readyz\""), "{access}");
    assert!(access.contains("status=503"), "{access}");
    assert!(access.contains("method=GET"), "{access}");
}
