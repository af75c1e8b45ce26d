//! Attachments: the seed's flow (ask over the socket, POST the file, see it
//! arrive), content checks, credentials, and protected downloads.

use crate::helpers::*;
use reqwest::multipart::{Form, Part};
use serde_json::{json, Value};
use std::time::Duration;

fn pdf(size: usize) -> Vec<u8> {
    let mut bytes = b"%PDF-1.7\n".to_vec();
    bytes.resize(size, b'x');
    bytes
}

/// Asks for an upload over the socket, as the seed's `uploadFile` does.
pub(crate) async fn authorize(ws: &mut WsClient, name: &str, size: usize, mime: &str) -> Value {
    ws.send_json(json!({"tipo": "file_upload_request", "data": {"nombre_archivo": name, "tamaño": size, "tipo_mime": mime}}))
        .await;
    loop {
        let frame = ws.next_frame().await;
        if frame["tipo"] == "file_upload_authorized" || frame["tipo"] == "error" {
            return frame;
        }
    }
}

/// POSTs the file to the authorization's URL with its headers, and nothing else.
pub(crate) async fn post_file(
    app: &TestApp,
    authorization: &Value,
    name: &str,
    bytes: Vec<u8>,
    extra: Option<(&str, String)>,
) -> (u16, Value) {
    let mut form = Form::new().part("file", Part::bytes(bytes).file_name(name.to_string()));
    if let Some((field, value)) = extra {
        form = form.text(field.to_string(), value);
    }
    let mut request = app
        .http
        .post(authorization["upload_url"].as_str().unwrap())
        .multipart(form);
    for (header, value) in authorization["headers"].as_object().unwrap() {
        request = request.header(header, value.as_str().unwrap());
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn chat(app: &TestApp) -> (i64, WsClient, WsClient) {
    let ticket = app.ticket_for(&customer(1)).await;
    let mut c = app.connect(ticket, &customer(1)).await;
    c.expect("connection_established").await;
    let mut a = app.connect(ticket, &agent(50)).await;
    a.expect("connection_established").await;
    c.wait_for("agente_joined").await;
    (ticket, c, a)
}

pub(crate) fn stored_files(app: &TestApp) -> usize {
    stored_files_in(&app.storage_dir())
}

/// Files kept under a storage folder (its scratch folder aside).
pub(crate) fn stored_files_in(root: &std::path::Path) -> usize {
    let mut count = 0;
    for entry in walk(root) {
        if !entry.starts_with(root.join("tmp")) {
            count += 1;
        }
    }
    count
}

/// Refused uploads left no file, no scratch copy and no message on `ticket`.
async fn assert_nothing_kept(app: &TestApp, ticket: i64) {
    assert_eq!(stored_files(app), 0, "refused uploads leave no file");
    let scratch = walk(&app.storage_dir().join("tmp"));
    assert!(scratch.is_empty(), "scratch left: {scratch:?}");
    let (_, page) = app
        .get(
            &format!("/api/soporte/tickets/{ticket}/chat/historial/"),
            &customer(1),
        )
        .await;
    assert_eq!(page["count"], 0, "and no message");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

#[tokio::test]
async fn a_png_and_a_9_mib_pdf_go_through_the_seed_flow_and_appear_once_with_downloads() {
    let app = spawn_app().await;
    let (ticket, mut c, mut a) = chat(&app).await;
    let authorized = authorize(&mut c, "captura.png", PNG.len(), "image/png").await;
    assert_eq!(authorized["tipo"], "file_upload_authorized", "{authorized}");
    let grant = &authorized["data"];
    assert!(grant["upload_url"]
        .as_str()
        .unwrap()
        .starts_with(&format!("http://{}/", app.addr)));
    let headers = grant["headers"].as_object().unwrap();
    assert_eq!(headers.len(), 1, "only the credential");
    assert!(!headers
        .keys()
        .any(|h| h.eq_ignore_ascii_case("content-type")));
    let (status, body) = post_file(&app, grant, "captura.png", PNG.to_vec(), None).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        (body["nombre"].as_str(), body["tipo_mime"].as_str()),
        (Some("captura.png"), Some("image/png"))
    );
    // Each screen: the ARCHIVO message (no file yet) and then file_uploaded,
    // which the seed's hook appends: the file shows once.
    for ws in [&mut c, &mut a] {
        let message = ws.wait_for("mensaje_recibido").await;
        assert_eq!(
            (message["tipo"].as_str(), message["archivos"].clone()),
            (Some("ARCHIVO"), json!([]))
        );
        let uploaded = ws.wait_for("file_uploaded").await;
        assert_eq!(uploaded["mensaje_id"], message["id"]);
        assert_eq!(uploaded["id"], body["id"]);
    }
    // A 9 MiB PDF.
    let big = pdf(9 * 1024 * 1024);
    let authorized = authorize(&mut a, "manual.pdf", big.len(), "application/pdf").await;
    let (status, pdf_body) =
        post_file(&app, &authorized["data"], "manual.pdf", big.clone(), None).await;
    assert_eq!(status, 201, "{pdf_body}");
    // History carries the files.
    let (_, page) = app
        .get(
            &format!("/api/soporte/tickets/{ticket}/chat/historial/"),
            &customer(1),
        )
        .await;
    let files: Vec<Value> = page["results"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|m| m["archivos"].as_array().unwrap().clone())
        .collect();
    assert_eq!(files.len(), 2);
    // Downloads: participants only, real type, safe headers.
    let url = pdf_body["url"].as_str().unwrap();
    let response = app
        .http
        .get(url)
        .bearer_auth(customer(1))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/pdf");
    assert_eq!(response.headers()["x-content-type-options"], "nosniff");
    assert!(response.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .starts_with("attachment;"));
    let etag = response.headers()["etag"].to_str().unwrap().to_string();
    assert_eq!(response.bytes().await.unwrap().as_ref(), big.as_slice());
    let png = app
        .http
        .get(body["url"].as_str().unwrap())
        .query(&[("token", agent(50))])
        .send()
        .await
        .unwrap();
    assert!(png.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .starts_with("inline;"));
    let cached = app
        .http
        .get(url)
        .bearer_auth(customer(1))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(cached.status(), 304);
    let part = app
        .http
        .get(url)
        .bearer_auth(customer(1))
        .header("range", "bytes=0-8")
        .send()
        .await
        .unwrap();
    assert_eq!(part.status(), 206);
    assert_eq!(
        part.headers()["content-range"],
        format!("bytes 0-8/{}", big.len()).as_str()
    );
    assert_eq!(part.bytes().await.unwrap().as_ref(), b"%PDF-1.7\n");
    // If-Range: the part only of the version named, else the whole file.
    for (if_range, status) in [
        (etag.as_str(), 206),
        ("\"otra-version\"", 200),
        ("Sat, 01 Jan 2000 00:00:00 GMT", 200),
    ] {
        let answer = app
            .http
            .get(url)
            .bearer_auth(customer(1))
            .header("range", "bytes=0-8")
            .header("if-range", if_range)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), status, "{if_range}");
        let length = if status == 206 { 9 } else { big.len() };
        assert_eq!(answer.bytes().await.unwrap().len(), length, "{if_range}");
    }
    let outside = app
        .http
        .get(url)
        .bearer_auth(customer(2))
        .send()
        .await
        .unwrap();
    assert_eq!(outside.status(), 403);
    assert_eq!(app.http.get(url).send().await.unwrap().status(), 401);
}

#[tokio::test]
async fn requests_for_too_large_or_unallowed_files_are_refused_over_the_socket() {
    let app = spawn_app().await;
    let (_, mut c, _) = chat(&app).await;
    let refused = authorize(&mut c, "enorme.pdf", 11 * 1024 * 1024, "application/pdf").await;
    assert_eq!(refused["data"]["codigo"], "archivo_demasiado_grande");
    let refused = authorize(&mut c, "virus.exe", 100, "application/octet-stream").await;
    assert_eq!(refused["data"]["codigo"], "tipo_no_permitido");
    let refused = authorize(&mut c, "sin_extension", 100, "application/pdf").await;
    assert_eq!(refused["data"]["codigo"], "tipo_no_permitido");
}

#[tokio::test]
async fn a_body_refused_after_its_file_leaves_nothing_and_the_grant_still_works() {
    let app = spawn_app().await;
    let (ticket, mut c, _) = chat(&app).await;
    let grant = authorize(&mut c, "foto.png", PNG.len(), "image/png").await["data"].clone();
    let file_part = [
        b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"foto.png\"\r\nContent-Type: image/png\r\n\r\n".as_slice(),
        PNG,
        b"\r\n",
    ]
    .concat();
    let bodies = [
        // A mensaje_id that is not a number, after the file.
        [
            &file_part[..],
            b"--b\r\nContent-Disposition: form-data; name=\"mensaje_id\"\r\n\r\nabc\r\n--b--\r\n",
        ]
        .concat(),
        // A body cut short after the file: its next part never comes.
        [&file_part[..], b"--b\r\nContent-Disposition: form-da"].concat(),
    ];
    for body in bodies {
        let mut request = app
            .http
            .post(grant["upload_url"].as_str().unwrap())
            .header("content-type", "multipart/form-data; boundary=b")
            .body(body);
        for (header, value) in grant["headers"].as_object().unwrap() {
            request = request.header(header, value.as_str().unwrap());
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 400);
        let detail = response.json::<Value>().await.unwrap()["detalle"].clone();
        assert!(detail.is_string(), "{detail}");
    }
    assert_nothing_kept(&app, ticket).await;
    // The grant was not spent: the same upload, whole, goes through.
    let (status, body) = post_file(&app, &grant, "foto.png", PNG.to_vec(), None).await;
    assert_eq!(status, 201, "{body}");
    assert!(stored_files(&app) >= 1);
}

#[tokio::test]
async fn bad_uploads_get_their_status_and_leave_nothing_behind() {
    let app = spawn_app().await;
    let (ticket, mut c, _) = chat(&app).await;
    // More bytes than declared (chunked, no Content-Length to trust).
    let grant = authorize(&mut c, "doc.pdf", 1000, "application/pdf").await["data"].clone();
    assert_eq!(
        post_file(&app, &grant, "doc.pdf", pdf(5000), None).await.0,
        413
    );
    // A lying, oversized Content-Length is refused before reading.
    let grant = authorize(&mut c, "doc.pdf", 1000, "application/pdf").await["data"].clone();
    let response = app
        .http
        .post(grant["upload_url"].as_str().unwrap())
        .header(
            "X-Upload-Token",
            grant["headers"]["X-Upload-Token"].as_str().unwrap(),
        )
        .header("content-type", "multipart/form-data; boundary=x")
        .body(vec![b'x'; 200 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    // A .png that is not a PNG.
    let grant = authorize(&mut c, "foto.png", 31, "image/png").await["data"].clone();
    assert_eq!(
        post_file(
            &app,
            &grant,
            "foto.png",
            b"<html><script>alert(1)</script>".to_vec(),
            None
        )
        .await
        .0,
        415
    );
    // A .docx that is not a ZIP.
    let grant = authorize(&mut c, "carta.docx", 9, "application/msword").await["data"].clone();
    assert_eq!(
        post_file(&app, &grant, "carta.docx", b"%PDF-1.7\n".to_vec(), None)
            .await
            .0,
        415
    );
    assert_nothing_kept(&app, ticket).await;

    // Path traversal in the name: shown safely, stored under a generated key.
    let grant =
        authorize(&mut c, "../../etc/passwd.png", PNG.len(), "image/png").await["data"].clone();
    assert_eq!(grant["nombre"], "passwd.png");
    let (status, body) = post_file(&app, &grant, "../../etc/passwd.png", PNG.to_vec(), None).await;
    assert_eq!((status, body["nombre"].as_str()), (201, Some("passwd.png")));
    assert!(walk(&app.storage_dir())
        .iter()
        .all(|p| !p.to_string_lossy().contains("passwd")));
    // The credential is single-use.
    assert_eq!(
        post_file(&app, &grant, "otra.png", PNG.to_vec(), None)
            .await
            .0,
        409
    );
    // A wrong credential, or another user's request, is refused.
    let grant = authorize(&mut c, "a.png", PNG.len(), "image/png").await["data"].clone();
    let mut forged = grant.clone();
    forged["headers"]["X-Upload-Token"] = json!("0".repeat(64));
    assert_eq!(
        post_file(&app, &forged, "a.png", PNG.to_vec(), None)
            .await
            .0,
        403
    );
    let stolen = app
        .http
        .post(grant["upload_url"].as_str().unwrap())
        .bearer_auth(customer(2))
        .header(
            "X-Upload-Token",
            grant["headers"]["X-Upload-Token"].as_str().unwrap(),
        )
        .multipart(Form::new().part("file", Part::bytes(PNG.to_vec()).file_name("a.png")))
        .send()
        .await
        .unwrap();
    assert_eq!(stolen.status(), 403);
    assert_eq!(stored_files(&app), 1);
}

#[tokio::test]
async fn an_expired_credential_is_refused() {
    let app = spawn_with(|c| c.upload_grant_ttl = Duration::from_millis(300)).await;
    let (_, mut c, _) = chat(&app).await;
    let grant = authorize(&mut c, "a.png", PNG.len(), "image/png").await["data"].clone();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        post_file(&app, &grant, "a.png", PNG.to_vec(), None).await.0,
        410
    );
}

#[tokio::test]
async fn a_file_can_join_a_text_message_its_author_just_sent() {
    let app = spawn_app().await;
    let (_, mut c, mut a) = chat(&app).await;
    c.send_message("Te mando la captura", "t1").await;
    let sent = c.wait_for("mensaje_confirmado").await["mensaje_id"]
        .as_i64()
        .unwrap();
    a.wait_for("mensaje_recibido").await;
    let grant = authorize(&mut c, "captura.png", PNG.len(), "image/png").await["data"].clone();
    let (status, body) = post_file(
        &app,
        &grant,
        "captura.png",
        PNG.to_vec(),
        Some(("mensaje_id", sent.to_string())),
    )
    .await;
    assert_eq!((status, body["mensaje_id"].as_i64()), (201, Some(sent)));
    assert_eq!(a.wait_for("file_uploaded").await["mensaje_id"], sent);
    a.assert_no("mensaje_recibido", Duration::from_millis(200))
        .await;
    // Not to someone else's message.
    a.send_message("hola", "a1").await;
    let theirs = a.wait_for("mensaje_confirmado").await["mensaje_id"]
        .as_i64()
        .unwrap();
    let grant = authorize(&mut c, "x.png", PNG.len(), "image/png").await["data"].clone();
    assert_eq!(
        post_file(
            &app,
            &grant,
            "x.png",
            PNG.to_vec(),
            Some(("mensaje_id", theirs.to_string()))
        )
        .await
        .0,
        400
    );
}

fn real_png(width: u32, height: u32) -> Vec<u8> {
    let image = image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, 128])
    });
    let mut bytes = std::io::Cursor::new(Vec::new());
    image.write_to(&mut bytes, image::ImageFormat::Png).unwrap();
    bytes.into_inner()
}

#[tokio::test]
async fn images_get_a_thumbnail_made_once_and_served_to_participants() {
    let app = spawn_app().await;
    let (ticket, mut c, mut a) = chat(&app).await;
    let png = real_png(800, 600);
    let grant = authorize(&mut c, "foto.png", png.len(), "image/png").await["data"].clone();
    let (status, body) = post_file(&app, &grant, "foto.png", png, None).await;
    assert_eq!(status, 201, "{body}");
    let uploaded = a.wait_for("file_uploaded").await;
    assert_eq!(uploaded["id"], body["id"]);
    assert!(uploaded["thumbnail_url"]
        .as_str()
        .unwrap()
        .ends_with("/miniatura/"));
    let (_, page) = app
        .get(
            &format!("/api/soporte/tickets/{ticket}/chat/historial/"),
            &customer(1),
        )
        .await;
    let thumbnail_url = page["results"][0]["archivos"][0]["thumbnail_url"]
        .as_str()
        .expect("a thumbnail")
        .to_string();
    let response = app
        .http
        .get(&thumbnail_url)
        .bearer_auth(agent(50))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "image/png");
    let preview = image::load_from_memory(&response.bytes().await.unwrap()).unwrap();
    assert_eq!((preview.width(), preview.height()), (320, 240));
    assert_eq!(
        app.http
            .get(&thumbnail_url)
            .bearer_auth(customer(2))
            .send()
            .await
            .unwrap()
            .status(),
        403
    );
    // A PDF has none.
    let doc = pdf(100);
    let grant = authorize(&mut c, "a.pdf", doc.len(), "application/pdf").await["data"].clone();
    let (_, pdf_body) = post_file(&app, &grant, "a.pdf", doc, None).await;
    let none = app
        .http
        .get(format!("{}miniatura/", pdf_body["url"].as_str().unwrap()))
        .bearer_auth(agent(50))
        .send()
        .await
        .unwrap();
    assert_eq!(none.status(), 404);
}

/// A real S3-compatible server (moto, from PyPI) on a free loopback port,
/// stopped when dropped.
struct Moto {
    child: std::process::Child,
    endpoint: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn moto() -> Moto {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = std::process::Command::new("python3")
        .args([
            "-m",
            "moto.server",
            "-H",
            "127.0.0.1",
            "-p",
            &port.to_string(),
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("moto (pip install 'moto[server]') runs");
    let moto = Moto {
        child,
        endpoint: format!("http://127.0.0.1:{port}"),
    };
    let http = reqwest::Client::new();
    for _ in 0..100 {
        if http
            .get(format!("{}/moto-api/", moto.endpoint))
            .send()
            .await
            .is_ok()
        {
            return moto;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("moto did not start on {}", moto.endpoint);
}

fn object_keys(listing: &str) -> Vec<String> {
    listing
        .split("<Key>")
        .skip(1)
        .filter_map(|part| part.split("</Key>").next())
        .map(str::to_string)
        .collect()
}

#[tokio::test]
async fn attachments_live_on_an_s3_object_store_when_configured() {
    let s3 = moto().await;
    let http = reqwest::Client::new();
    assert!(http
        .put(format!("{}/adjuntos", s3.endpoint))
        .send()
        .await
        .unwrap()
        .status()
        .is_success());
    let endpoint = s3.endpoint.clone();
    let app = spawn_with(move |c| {
        c.storage = soporte_server::files::storage::StorageLocation::ObjectStore(
            soporte_server::files::storage::ObjectStoreSettings {
                bucket: "adjuntos".into(),
                prefix: "soporte".into(),
                endpoint: Some(endpoint),
                region: "us-east-1".into(),
                access_key_id: Some("test".into()),
                secret_access_key: Some("test".into()),
            },
        )
    })
    .await;
    let (ticket, mut c, mut a) = chat(&app).await;
    let png = real_png(640, 480);
    let grant = authorize(&mut c, "foto.png", png.len(), "image/png").await["data"].clone();
    let (status, body) = post_file(&app, &grant, "foto.png", png.clone(), None).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(a.wait_for("file_uploaded").await["id"], body["id"]);
    let big = pdf(9 * 1024 * 1024);
    let grant = authorize(&mut c, "manual.pdf", big.len(), "application/pdf").await["data"].clone();
    let (status, pdf_body) = post_file(&app, &grant, "manual.pdf", big.clone(), None).await;
    assert_eq!(status, 201, "{pdf_body}");
    // The bytes are in the bucket under generated keys, with the thumbnail.
    let listing = http
        .get(format!("{}/adjuntos?list-type=2", s3.endpoint))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let keys = object_keys(&listing);
    assert_eq!(keys.len(), 3, "{keys:?}");
    assert!(
        keys.iter()
            .all(|k| k.starts_with("soporte/") && !k.contains("foto") && !k.contains("manual")),
        "{keys:?}"
    );
    // Downloads come from the store, whole and by range.
    let whole = app
        .http
        .get(pdf_body["url"].as_str().unwrap())
        .bearer_auth(customer(1))
        .send()
        .await
        .unwrap();
    assert_eq!(whole.bytes().await.unwrap().len(), big.len());
    let part = app
        .http
        .get(pdf_body["url"].as_str().unwrap())
        .bearer_auth(customer(1))
        .header("range", "bytes=-4")
        .send()
        .await
        .unwrap();
    assert_eq!(part.status(), 206);
    assert_eq!(part.bytes().await.unwrap().as_ref(), b"xxxx");
    let (_, page) = app
        .get(
            &format!("/api/soporte/tickets/{ticket}/chat/historial/"),
            &customer(1),
        )
        .await;
    let thumb = page["results"][0]["archivos"][0]["thumbnail_url"]
        .as_str()
        .unwrap()
        .to_string();
    let preview = app
        .http
        .get(&thumb)
        .bearer_auth(customer(1))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(image::load_from_memory(&preview).unwrap().width(), 320);
    // A refused upload leaves nothing in the bucket.
    let grant = authorize(&mut c, "otro.pdf", 100, "application/pdf").await["data"].clone();
    assert_eq!(
        post_file(&app, &grant, "otro.pdf", pdf(500), None).await.0,
        413
    );
    let listing = http
        .get(format!("{}/adjuntos?list-type=2", s3.endpoint))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(object_keys(&listing).len(), 3);
}

#[tokio::test]
async fn a_chunked_upload_is_cut_off_at_the_declared_size() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = spawn_app().await;
    let (ticket, mut c, _) = chat(&app).await;
    let grant = authorize(&mut c, "doc.pdf", 1000, "application/pdf").await["data"].clone();
    let path = grant["upload_url"]
        .as_str()
        .unwrap()
        .split_once(&app.addr.to_string())
        .unwrap()
        .1
        .to_string();
    let token = grant["headers"]["X-Upload-Token"].as_str().unwrap();
    // No Content-Length: the size is only known by counting.
    let mut body = b"--frontera\r\nContent-Disposition: form-data; name=\"file\"; filename=\"doc.pdf\"\r\nContent-Type: application/pdf\r\n\r\n".to_vec();
    body.extend(pdf(50_000));
    body.extend(b"\r\n--frontera--\r\n");
    let mut socket = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {}\r\nX-Upload-Token: {token}\r\nContent-Type: multipart/form-data; boundary=frontera\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        app.addr
    );
    socket.write_all(head.as_bytes()).await.unwrap();
    for chunk in body.chunks(4096) {
        let framed = [
            format!("{:x}\r\n", chunk.len()).into_bytes(),
            chunk.to_vec(),
            b"\r\n".to_vec(),
        ]
        .concat();
        if socket.write_all(&framed).await.is_err() {
            break; // the server may stop reading early
        }
    }
    let _ = socket.write_all(b"0\r\n\r\n").await;
    let mut answer = String::new();
    let _ = socket.read_to_string(&mut answer).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert_eq!(stored_files(&app), 0);
    let (_, page) = app
        .get(
            &format!("/api/soporte/tickets/{ticket}/chat/historial/"),
            &customer(1),
        )
        .await;
    assert_eq!(page["count"], 0);
}

#[tokio::test]
async fn scratch_files_left_by_a_crash_are_cleared_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let scratch = dir.path().join("files").join("tmp");
    std::fs::create_dir_all(&scratch).unwrap();
    std::fs::write(scratch.join("a-cut-off-upload"), b"partial").unwrap();
    let root = dir.path().join("files");
    let _app = spawn_with(move |c| {
        c.storage = soporte_server::files::storage::StorageLocation::Folder(root)
    })
    .await;
    assert_eq!(std::fs::read_dir(&scratch).unwrap().count(), 0);
}

/// A PNG of `side` × `side` RGBA pixels, all zero: a few hundred kilobytes
/// that decode to `side² × 4` bytes. Compressed row by row, so making it
/// costs the test no such memory.
fn png_bomb(side: u32) -> Vec<u8> {
    use flate2::write::ZlibEncoder;
    use std::io::Write;
    fn chunk(out: &mut Vec<u8>, kind: &[u8], data: &[u8]) {
        out.extend((data.len() as u32).to_be_bytes());
        let start = out.len();
        out.extend(kind);
        out.extend(data);
        // PNG's CRC is zlib's CRC-32.
        let mut crc = flate2::Crc::new();
        crc.update(&out[start..]);
        out.extend(crc.sum().to_be_bytes());
    }
    let mut ihdr = Vec::new();
    ihdr.extend(side.to_be_bytes());
    ihdr.extend(side.to_be_bytes());
    ihdr.extend([8, 6, 0, 0, 0]); // 8 bits, RGBA
    let row = vec![0u8; 1 + side as usize * 4]; // filter byte, then pixels
    let mut zlib = ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    for _ in 0..side {
        zlib.write_all(&row).unwrap();
    }
    let idat = zlib.finish().unwrap();
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    chunk(&mut png, b"IHDR", &ihdr);
    chunk(&mut png, b"IDAT", &idat);
    chunk(&mut png, b"IEND", &[]);
    png
}

/// Images that each decode within the per-image budget, uploaded together:
/// previews are decoded a bounded number at once, so the memory they can
/// force stays under slots × budget; every upload is kept, with or without
/// its preview.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_image_bombs_are_decoded_a_bounded_number_at_once() {
    if !peak_rss_resettable() {
        return; // peak memory is read from Linux's /proc
    }
    let app = spawn_with(|c| c.preview_decodes = 1).await;
    let (_, mut c, _a) = chat(&app).await;
    // 5,000 x 5,000 RGBA: 100 MB decoded, under the 128 MiB per-image budget.
    let bomb = png_bomb(5_000);
    assert!(bomb.len() < 1_000_000, "{}", bomb.len());
    let mut grants = Vec::new();
    for i in 0..6 {
        let name = format!("bomba{i}.png");
        grants.push(authorize(&mut c, &name, bomb.len(), "image/png").await["data"].clone());
    }
    let before = reset_peak_rss();
    let uploads = grants.iter().enumerate().map(|(i, grant)| {
        let (app, bomb) = (&app, bomb.clone());
        async move { post_file(app, grant, &format!("bomba{i}.png"), bomb, None).await }
    });
    let results = futures_util::future::join_all(uploads).await;
    for (status, body) in &results {
        assert_eq!(*status, 201, "{body}");
    }
    // The bombs are real images: those that got a slot have a preview.
    let previews = results
        .iter()
        .filter(|(_, body)| body["thumbnail_url"].is_string())
        .count();
    assert!(previews >= 1, "{results:?}");
    let grown = peak_rss().saturating_sub(before);
    // One slot: one 100 MB decode (and its preview) at a time. Six at once,
    // as before the bound, took over 600 MB.
    assert!(
        grown < 300 * 1024 * 1024,
        "peak grew by {} MiB",
        grown / 1024 / 1024
    );
}
