//! Cluster mode: several real `soporte` processes sharing one database and
//! one Redis. Each test runs its own `redis-server` on a free port (so it
//! can stop and restart it without disturbing other tests) and its own
//! database: PostgreSQL when `SOPORTE_TEST_POSTGRES` names a server (as
//! `scripts/test` does), otherwise one SQLite file shared by the nodes.

use crate::helpers::*;
use reqwest::multipart::{Form, Part};
use serde_json::{json, Value};
use std::collections::{BTreeSet, HashMap};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tempfile::TempDir;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A private Redis for one test.
struct RedisServer {
    child: Child,
    port: u16,
}

impl RedisServer {
    fn start_on(port: u16) -> RedisServer {
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .arg("--port")
            .arg(port.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("redis-server is installed (scripts/test checks)");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        RedisServer { child, port }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The database every node of a test shares.
struct Database {
    url: String,
    /// PostgreSQL: the server and the database to drop at the end.
    postgres: Option<(String, String)>,
}

impl Database {
    fn new(dir: &TempDir) -> Database {
        match std::env::var("SOPORTE_TEST_POSTGRES") {
            Ok(server) => {
                let mut name = [0u8; 6];
                getrandom::fill(&mut name).unwrap();
                let name = format!(
                    "soporte_c_{}",
                    name.iter().map(|b| format!("{b:02x}")).collect::<String>()
                );
                psql(&server, &format!("CREATE DATABASE {name}"));
                let base = server.rsplit_once('/').map_or(server.as_str(), |(b, _)| b);
                Database {
                    url: format!("{base}/{name}"),
                    postgres: Some((server.clone(), name)),
                }
            }
            Err(_) => Database {
                url: format!("sqlite://{}", dir.path().join("soporte.db").display()),
                postgres: None,
            },
        }
    }
}

fn psql(server: &str, sql: &str) {
    let status = Command::new("psql")
        .args([server, "-q", "-v", "ON_ERROR_STOP=1", "-c", sql])
        .stdout(Stdio::null())
        .status()
        .expect("psql runs");
    assert!(status.success(), "psql {sql}");
}

impl Drop for Database {
    fn drop(&mut self) {
        if let Some((server, name)) = &self.postgres {
            let _ = Command::new("psql")
                .args([server.as_str(), "-q", "-c"])
                .arg(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

struct Node {
    child: Child,
    addr: String,
}

impl Node {
    fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    async fn get(&self, path: &str, token: &str) -> (u16, Value) {
        let response = reqwest::Client::new()
            .get(format!("{}{path}", self.base()))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn post(&self, path: &str, token: &str, body: Value) -> (u16, Value) {
        let response = reqwest::Client::new()
            .post(format!("{}{path}", self.base()))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn ready(&self) -> bool {
        reqwest::get(format!("{}/readyz", self.base()))
            .await
            .is_ok_and(|r| r.status().is_success())
    }

    async fn connect(&self, ticket: i64, token: &str) -> WsClient {
        self.connect_since(ticket, token, None).await
    }

    async fn connect_since(&self, ticket: i64, token: &str, since: Option<i64>) -> WsClient {
        let mut url = format!(
            "ws://{}/ws/soporte/ticket/{ticket}/?token={token}",
            self.addr
        );
        if let Some(since) = since {
            url.push_str(&format!("&since={since}"));
        }
        let (stream, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("connects");
        WsClient { stream }
    }

    async fn ticket_for(&self, token: &str) -> i64 {
        let (status, body) = self
            .post("/api/soporte/tickets/", token, json!({"asunto": "cluster"}))
            .await;
        assert_eq!(status, 201, "{body}");
        body["id"].as_i64().unwrap()
    }

    async fn history(&self, ticket: i64, token: &str) -> Vec<Value> {
        let mut all = Vec::new();
        let mut page = 1;
        loop {
            let (status, body) = self
                .get(
                    &format!("/api/soporte/tickets/{ticket}/chat/historial/?page={page}&size=100"),
                    token,
                )
                .await;
            assert_eq!(status, 200, "{body}");
            let mut results = body["results"].as_array().unwrap().clone();
            results.extend(all);
            all = results;
            if body["next"].is_null() {
                return all;
            }
            page += 1;
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Nodes, their Redis and their database.
struct Cluster {
    redis: RedisServer,
    db: Database,
    dir: TempDir,
}

impl Cluster {
    fn new() -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        Cluster {
            redis: RedisServer::start_on(free_port()),
            db: Database::new(&dir),
            dir,
        }
    }

    /// A node with every message limit off (`--msg-rate 0`).
    async fn node(&self) -> Node {
        self.node_with(&["--msg-rate", "0"]).await
    }

    async fn node_with(&self, flags: &[&str]) -> Node {
        let mut child = Command::new(env!("CARGO_BIN_EXE_soporte"))
            .args(["serve", "--bind", "127.0.0.1:0"])
            .args(flags)
            .args(["--presence-ttl", "3"])
            .arg("--database-url")
            .arg(&self.db.url)
            .arg("--redis-url")
            .arg(self.redis.url())
            .arg("--storage")
            .arg(self.dir.path().join("files"))
            .env("SOPORTE_JWT_SECRET", SECRET)
            .env("SOPORTE_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the soporte binary starts");
        let addr = listening_addr(&mut child);
        let node = Node { child, addr };
        eventually("the node is ready", Duration::from_secs(10), || {
            node.ready()
        })
        .await;
        node
    }

    fn restart_redis(&mut self) {
        let port = self.redis.port;
        self.redis.kill();
        self.redis = RedisServer::start_on(port);
    }
}

async fn eventually<F, Fut>(what: &str, within: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + within;
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Frames until one of `tipo` arrives, skipping others.
async fn wait_within(ws: &mut WsClient, tipo: &str, within: Duration) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match ws.next_frame_within(left).await {
            Ok(Some(frame)) if frame["tipo"] == tipo => return frame["data"].clone(),
            Ok(Some(_)) => continue,
            Ok(None) => panic!("no {tipo} within {within:?}"),
            Err(closed) => panic!("closed waiting for {tipo}: {closed:?}"),
        }
    }
}

/// Collects `mensaje_recibido` seqs until `count` arrived.
async fn received_seqs(ws: &mut WsClient, count: usize, within: Duration) -> Vec<i64> {
    let mut seqs = Vec::new();
    while seqs.len() < count {
        let data = wait_within(ws, "mensaje_recibido", within).await;
        seqs.push(data["seq"].as_i64().unwrap());
    }
    seqs
}

#[tokio::test]
async fn customer_and_agent_on_different_nodes_chat_type_share_files_and_see_a_transfer() {
    let cluster = Cluster::new();
    let (a, b) = (cluster.node().await, cluster.node().await);
    let ticket = a.ticket_for(&customer(1)).await;
    let mut c = a.connect(ticket, &customer(1)).await;
    c.expect("connection_established").await;

    // The agent opens the ticket on the other node: it is theirs, and the
    // customer hears they joined.
    let mut ag = b.connect(ticket, &agent(50)).await;
    ag.expect("connection_established").await;
    let joined = wait_within(&mut c, "agente_joined", FRAME_TIMEOUT).await;
    assert_eq!(joined["usuario"]["id"], 50);

    c.send_message("hola desde el nodo A", "c1").await;
    let confirmed = wait_within(&mut c, "mensaje_confirmado", FRAME_TIMEOUT).await;
    let got = wait_within(&mut ag, "mensaje_recibido", FRAME_TIMEOUT).await;
    assert_eq!(got["contenido"], "hola desde el nodo A");
    assert_eq!(got["seq"], confirmed["seq"]);

    ag.send_json(json!({"tipo": "typing_start", "data": {}}))
        .await;
    let typing = wait_within(&mut c, "usuario_escribiendo", FRAME_TIMEOUT).await;
    assert_eq!(typing["usuario"]["id"], 50);
    ag.send_message("hola desde el nodo B", "a1").await;
    wait_within(&mut c, "usuario_dejo_escribir", FRAME_TIMEOUT).await;
    let reply = wait_within(&mut c, "mensaje_recibido", FRAME_TIMEOUT).await;
    assert_eq!(reply["contenido"], "hola desde el nodo B");

    // A file asked for and uploaded on node A arrives on node B.
    c.send_json(json!({"tipo": "file_upload_request", "data": {"nombre_archivo": "captura.png", "tamaño": PNG.len(), "tipo_mime": "image/png"}}))
        .await;
    let grant = wait_within(&mut c, "file_upload_authorized", FRAME_TIMEOUT).await;
    let mut upload = reqwest::Client::new()
        .post(grant["upload_url"].as_str().unwrap())
        .multipart(Form::new().part("file", Part::bytes(PNG.to_vec()).file_name("captura.png")));
    for (header, value) in grant["headers"].as_object().unwrap() {
        upload = upload.header(header, value.as_str().unwrap());
    }
    assert_eq!(upload.send().await.unwrap().status(), 201);
    // Its message first, then the file that joins it (the seed's hook adds
    // the file to a message it already has).
    let message = wait_within(&mut ag, "mensaje_recibido", FRAME_TIMEOUT).await;
    assert_eq!(message["tipo"], "ARCHIVO", "{message}");
    let file = ag.expect("file_uploaded").await;
    assert_eq!(file["mensaje_id"], message["id"]);
    assert_eq!(file["nombre"], "captura.png", "{file}");
    // And node B serves its bytes (shared storage).
    let url = file["url"].as_str().unwrap();
    let path = &url[url.find("/api/").unwrap()..];
    let download = reqwest::Client::new()
        .get(format!("{}{path}", b.base()))
        .bearer_auth(agent(50))
        .send()
        .await
        .unwrap();
    assert_eq!(download.status(), 200);
    assert_eq!(download.bytes().await.unwrap().as_ref(), PNG);

    // The agent reads on node B; the receipt reaches the customer on node A.
    let (status, _) = b
        .post(
            &format!("/api/soporte/tickets/{ticket}/chat/mark-read/"),
            &agent(50),
            json!({"message_ids": [confirmed["mensaje_id"]]}),
        )
        .await;
    assert_eq!(status, 200);
    let read = wait_within(&mut c, "mensajes_leidos", FRAME_TIMEOUT).await;
    assert_eq!(read["message_ids"], json!([confirmed["mensaje_id"]]));

    // A supervisor on node A transfers the chat to agent 60: the customer
    // sees it, and agent 50's socket on node B is closed.
    // Agent 60 is known once they open their inbox (on node B).
    let url = format!("ws://{}/ws/soporte/agentes/?token={}", b.addr, agent(60));
    let (stream, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let mut inbox_60 = WsClient { stream };
    inbox_60.expect("inbox").await;
    let (status, body) = a
        .post(
            &format!("/api/soporte/tickets/{ticket}/chat/transfer/"),
            &supervisor(9),
            json!({"agente_id": 60, "motivo": "especialista"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let transferred = wait_within(&mut c, "chat_transferred", FRAME_TIMEOUT).await;
    assert_eq!(transferred["nuevo_agente"]["id"], 60);
    let closed = loop {
        match ag.next_frame_within(FRAME_TIMEOUT).await {
            Ok(Some(_)) => continue,
            Ok(None) => panic!("agent 50 not disconnected"),
            Err(closed) => break closed,
        }
    };
    assert_eq!(closed.code, Some(4001), "{closed:?}");
    let mut new_agent = b.connect(ticket, &agent(60)).await;
    new_agent.expect("connection_established").await;
    new_agent.send_message("ahora te atiendo yo", "n1").await;
    let from_new = wait_within(&mut c, "mensaje_recibido", FRAME_TIMEOUT).await;
    assert_eq!(from_new["autor"]["id"], 60);

    // The same conversation whichever node serves it, from the database and
    // from each node's greeting (the recent-history cache), receipts included.
    // Attachment URLs start with each node's `--public-url` (one balancer
    // address in a real deployment, each node's own here): compared without it.
    let same_base = |messages: Vec<Value>| -> Value {
        let text = serde_json::to_string(&messages).unwrap();
        serde_json::from_str(&text.replace(&a.addr, "NODE").replace(&b.addr, "NODE")).unwrap()
    };
    let on_a = same_base(a.history(ticket, &customer(1)).await);
    let on_b = same_base(b.history(ticket, &customer(1)).await);
    assert_eq!(on_a, on_b);
    let seqs: Vec<i64> = on_a
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(seqs, (1..=seqs.len() as i64).collect::<Vec<_>>());
    for node in [&a, &b, &a] {
        let mut again = node.connect(ticket, &customer(1)).await;
        let hello = again.expect("connection_established").await;
        let recent = hello["historial_reciente"].as_array().unwrap().clone();
        assert_eq!(same_base(recent.clone()), on_a, "greeting on {}", node.addr);
        let first = recent.iter().find(|m| m["client_id"] == "c1").unwrap();
        assert_eq!(first["estado"], "LEIDO");
    }
}

#[tokio::test]
async fn concurrent_writers_on_one_ticket_across_three_nodes_get_unique_gapless_seq() {
    let cluster = Cluster::new();
    let nodes = [
        cluster.node().await,
        cluster.node().await,
        cluster.node().await,
    ];
    let ticket = nodes[0].ticket_for(&customer(1)).await;
    let tokens = [customer(1), agent(50), supervisor(9)];
    let mut sockets = Vec::new();
    for (node, token) in nodes.iter().zip(&tokens) {
        let mut ws = node.connect(ticket, token).await;
        ws.expect("connection_established").await;
        sockets.push(ws);
    }
    let per_writer = 150;
    let total = per_writer * sockets.len();
    let runs = sockets.into_iter().enumerate().map(|(w, mut ws)| {
        tokio::spawn(async move {
            for n in 0..per_writer {
                ws.send_message(&format!("w{w} m{n}"), &format!("w{w}-{n}"))
                    .await;
            }
            let (mut confirmed, mut received) = (Vec::new(), Vec::new());
            while confirmed.len() < per_writer || received.len() < total - per_writer {
                let frame = ws.next_frame_within(Duration::from_secs(20)).await;
                let frame = frame.unwrap().expect("every frame arrives");
                match frame["tipo"].as_str().unwrap() {
                    "mensaje_confirmado" => confirmed.push(frame["data"]["seq"].as_i64().unwrap()),
                    "mensaje_recibido" => received.push(frame["data"]["seq"].as_i64().unwrap()),
                    _ => {}
                }
            }
            (confirmed, received)
        })
    });
    let mut all_confirmed = BTreeSet::new();
    for run in runs.collect::<Vec<_>>() {
        let (confirmed, received) = run.await.unwrap();
        assert!(
            received.windows(2).all(|w| w[0] < w[1]),
            "delivered once, in seq order"
        );
        let mut seen: BTreeSet<i64> = received.iter().copied().collect();
        for seq in &confirmed {
            assert!(all_confirmed.insert(*seq), "seq {seq} confirmed twice");
            assert!(seen.insert(*seq), "own message also delivered");
        }
        assert_eq!(seen, (1..=total as i64).collect(), "every message seen");
    }
    assert_eq!(all_confirmed, (1..=total as i64).collect());
    for node in &nodes {
        assert_eq!(node.history(ticket, &supervisor(9)).await.len(), total);
    }
}

#[tokio::test]
async fn a_node_killed_with_sigkill_loses_nothing_and_its_clients_resume_on_another() {
    let cluster = Cluster::new();
    let (mut a, b) = (cluster.node().await, cluster.node().await);
    let ticket = a.ticket_for(&customer(1)).await;
    let mut watcher = b.connect(ticket, &agent(50)).await;
    watcher.expect("connection_established").await;
    let mut c = a.connect(ticket, &customer(1)).await;
    c.expect("connection_established").await;
    let sent = 300;
    for n in 0..sent {
        c.send_message(&format!("m{n}"), &format!("k{n}")).await;
    }
    let mut confirmed: HashMap<String, (i64, i64)> = HashMap::new();
    while confirmed.len() < 100 {
        let data = wait_within(&mut c, "mensaje_confirmado", FRAME_TIMEOUT).await;
        confirmed.insert(
            data["client_id"].as_str().unwrap().into(),
            (
                data["mensaje_id"].as_i64().unwrap(),
                data["seq"].as_i64().unwrap(),
            ),
        );
    }
    a.kill();
    drop(c);

    // The customer comes back on node B from the last seq it knows, and
    // sends again what it never saw confirmed, with the same client_ids.
    let since = confirmed.values().map(|(_, seq)| *seq).max().unwrap();
    let mut c = b.connect_since(ticket, &customer(1), Some(since)).await;
    c.expect("connection_established").await;
    let missing: Vec<usize> = (0..sent)
        .filter(|n| !confirmed.contains_key(&format!("k{n}")))
        .collect();
    for n in &missing {
        c.send_message(&format!("m{n}"), &format!("k{n}")).await;
    }
    for _ in &missing {
        wait_within(&mut c, "mensaje_confirmado", FRAME_TIMEOUT).await;
    }

    let history = b.history(ticket, &customer(1)).await;
    assert_eq!(history.len(), sent, "each message stored once");
    let seqs: Vec<i64> = history.iter().map(|m| m["seq"].as_i64().unwrap()).collect();
    assert_eq!(seqs, (1..=sent as i64).collect::<Vec<_>>());
    for (client_id, (id, _)) in &confirmed {
        let stored = history.iter().find(|m| m["client_id"] == *client_id);
        assert_eq!(stored.map(|m| m["id"].as_i64().unwrap()), Some(*id));
    }
    // The agent on node B saw every message once, in order, including those
    // node A committed but never got to publish.
    let seen = received_seqs(&mut watcher, sent, Duration::from_secs(10)).await;
    assert_eq!(seen, (1..=sent as i64).collect::<Vec<_>>());
}

#[tokio::test]
async fn a_redis_restart_during_traffic_loses_nothing_and_readiness_follows_redis() {
    let mut cluster = Cluster::new();
    let (a, b) = (cluster.node().await, cluster.node().await);
    let ticket = a.ticket_for(&customer(1)).await;
    let mut watcher = b.connect(ticket, &agent(50)).await;
    watcher.expect("connection_established").await;
    let mut local_watcher = a.connect(ticket, &supervisor(9)).await;
    local_watcher.expect("connection_established").await;
    let mut c = a.connect(ticket, &customer(1)).await;
    c.expect("connection_established").await;

    let sent = 120;
    let mut confirmed = 0;
    for n in 0..sent {
        if n == 40 {
            cluster.redis.kill();
        }
        c.send_message(&format!("m{n}"), &format!("k{n}")).await;
        // Stored and confirmed whatever Redis does.
        wait_within(&mut c, "mensaje_confirmado", FRAME_TIMEOUT).await;
        confirmed += 1;
        if n == 60 {
            eventually(
                "node A says it is not ready",
                Duration::from_secs(5),
                || async { !a.ready().await },
            )
            .await;
        }
        if n == 80 {
            cluster.restart_redis();
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(confirmed, sent);
    // Local delivery never stopped; cross-node delivery catches up, once each.
    let local = received_seqs(&mut local_watcher, sent, FRAME_TIMEOUT).await;
    assert_eq!(local, (1..=sent as i64).collect::<Vec<_>>());
    let remote = received_seqs(&mut watcher, sent, Duration::from_secs(10)).await;
    assert_eq!(remote, (1..=sent as i64).collect::<Vec<_>>());
    watcher
        .assert_no("mensaje_recibido", Duration::from_millis(500))
        .await;
    eventually(
        "both nodes are ready again",
        Duration::from_secs(10),
        || async { a.ready().await && b.ready().await },
    )
    .await;
    // And chat across nodes works live again.
    c.send_message("de vuelta", "back").await;
    let back = wait_within(&mut watcher, "mensaje_recibido", FRAME_TIMEOUT).await;
    assert_eq!(back["contenido"], "de vuelta");
}

#[tokio::test]
async fn an_agent_on_two_nodes_is_announced_once_and_a_dead_nodes_presence_expires() {
    let cluster = Cluster::new();
    let (a, mut b) = (cluster.node().await, cluster.node().await);
    let ticket = a.ticket_for(&customer(1)).await;
    let mut c = a.connect(ticket, &customer(1)).await;
    c.expect("connection_established").await;

    let mut on_b = b.connect(ticket, &agent(50)).await;
    on_b.expect("connection_established").await;
    wait_within(&mut c, "agente_joined", FRAME_TIMEOUT).await;
    let mut on_a = a.connect(ticket, &agent(50)).await;
    on_a.expect("connection_established").await;
    c.assert_no("agente_joined", Duration::from_millis(700))
        .await;
    // Leaving one node while still on the other is not leaving.
    on_a.close().await;
    c.assert_no("agente_left", Duration::from_millis(700)).await;

    // A second customer connection, on node A, lists the agent of node B.
    let mut other = a.connect(ticket, &customer(1)).await;
    let hello = other.expect("connection_established").await;
    let listed = hello["participants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == 50)
        .cloned()
        .unwrap();
    assert_eq!(listed["online"], true);
    other.close().await;

    // Node B dies without a word: within the presence TTL (3 s here) and a
    // refresh, the agent stops counting and the customer is told.
    b.kill();
    drop(on_b);
    let left = wait_within(&mut c, "agente_left", Duration::from_secs(10)).await;
    assert_eq!(left["usuario"]["id"], 50);
    let mut later = a.connect(ticket, &customer(1)).await;
    let hello = later.expect("connection_established").await;
    let agent_entry = hello["participants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == 50)
        .cloned()
        .unwrap();
    assert_eq!(agent_entry["online"], false, "{agent_entry}");
}

#[tokio::test]
async fn agents_inboxes_on_other_nodes_count_for_assignment_and_get_previews() {
    let cluster = Cluster::new();
    let (a, b) = (cluster.node().await, cluster.node().await);
    // The agent's inbox is on node B; a ticket created on node A goes to its
    // queue and its preview reaches node B.
    let url = format!("ws://{}/ws/soporte/agentes/?token={}", b.addr, agent(50));
    let (stream, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let mut inbox = WsClient { stream };
    inbox.expect("inbox").await;
    let ticket = a.ticket_for(&customer(1)).await;
    let created = wait_within(&mut inbox, "ticket_actualizado", FRAME_TIMEOUT).await;
    assert_eq!(created["ticket"]["id"], ticket);
    let mut c = a.connect(ticket, &customer(1)).await;
    c.expect("connection_established").await;
    c.send_message("¿hay alguien?", "q1").await;
    let preview = wait_within(&mut inbox, "inbox_mensaje", FRAME_TIMEOUT).await;
    assert_eq!(preview["contenido"], "¿hay alguien?");
    // Node A knows the agent is online although their inbox is on node B.
    let (status, agents) = a.get("/api/soporte/agentes/", &supervisor(9)).await;
    assert_eq!(status, 200, "{agents}");
    let entry = agents
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["id"] == 50)
        .cloned()
        .unwrap();
    assert_eq!(entry["online"], true, "{entry}");
}

/// A TCP proxy in front of PostgreSQL that a test can cut (every connection
/// dropped, new ones refused) and restore: the database "unreachable" for one
/// node only, without disturbing the server other tests share.
struct CuttableProxy {
    port: u16,
    open: std::sync::Arc<std::sync::atomic::AtomicBool>,
    cut: std::sync::Arc<tokio::sync::Notify>,
}

impl CuttableProxy {
    async fn start(upstream: String) -> CuttableProxy {
        use std::sync::atomic::Ordering;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let open = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
        let cut = std::sync::Arc::new(tokio::sync::Notify::new());
        let (open_flag, cut_signal) = (open.clone(), cut.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else {
                    return;
                };
                if !open_flag.load(Ordering::SeqCst) {
                    continue; // dropped: refused
                }
                let upstream = upstream.clone();
                let cut = cut_signal.clone();
                tokio::spawn(async move {
                    let Ok(mut server) = tokio::net::TcpStream::connect(&upstream).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = cut.notified() => {}
                    }
                });
            }
        });
        CuttableProxy { port, open, cut }
    }

    fn cut(&self) {
        self.open.store(false, std::sync::atomic::Ordering::SeqCst);
        // Wake every copying task (notify_waiters reaches all of them).
        self.cut.notify_waiters();
    }

    fn restore(&self) {
        self.open.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

// Multi-threaded: the proxy's tasks must run while the test blocks on
// starting a node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_database_gets_an_error_frame_never_a_confirmation_and_the_retry_succeeds() {
    let Ok(server) = std::env::var("SOPORTE_TEST_POSTGRES") else {
        eprintln!(
            "SOPORTE_TEST_POSTGRES is not set: this test needs PostgreSQL (scripts/test sets it)"
        );
        return;
    };
    let cluster = Cluster::new();
    let name = cluster.db.postgres.as_ref().unwrap().1.clone();
    let host_port = server
        .split('@')
        .next_back()
        .and_then(|rest| rest.split('/').next())
        .unwrap()
        .to_string();
    let proxy = CuttableProxy::start(host_port).await;
    let user = server
        .split("://")
        .nth(1)
        .and_then(|rest| rest.split('@').next())
        .unwrap()
        .to_string();
    let through_proxy = Cluster {
        redis: RedisServer::start_on(free_port()),
        db: Database {
            url: format!("postgres://{user}@127.0.0.1:{}/{name}", proxy.port),
            postgres: None,
        },
        dir: tempfile::tempdir().unwrap(),
    };
    let node = through_proxy.node().await;
    let ticket = node.ticket_for(&customer(1)).await;
    let mut c = node.connect(ticket, &customer(1)).await;
    c.expect("connection_established").await;
    c.send_message("antes", "k1").await;
    wait_within(&mut c, "mensaje_confirmado", FRAME_TIMEOUT).await;

    proxy.cut();
    c.send_message("durante", "k2").await;
    let frame = loop {
        let frame = c
            .next_frame_within(Duration::from_secs(30))
            .await
            .unwrap()
            .unwrap();
        if frame["tipo"] == "error" || frame["tipo"] == "mensaje_confirmado" {
            break frame;
        }
    };
    assert_eq!(frame["tipo"], "error", "never a confirmation: {frame}");
    assert_eq!(frame["data"]["codigo"], "error_almacenamiento", "{frame}");
    assert_eq!(frame["data"]["client_id"], "k2");
    eventually(
        "the node says it is not ready",
        Duration::from_secs(10),
        || async { !node.ready().await },
    )
    .await;

    proxy.restore();
    eventually("the node is ready again", Duration::from_secs(20), || {
        node.ready()
    })
    .await;
    c.send_message("durante", "k2").await;
    let confirmed = wait_within(&mut c, "mensaje_confirmado", Duration::from_secs(20)).await;
    assert_eq!(confirmed["client_id"], "k2");
    let history = node.history(ticket, &customer(1)).await;
    let texts: Vec<&str> = history
        .iter()
        .map(|m| m["contenido"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["antes", "durante"]);
    drop(cluster);
}

#[tokio::test]
async fn a_users_message_budget_is_shared_by_the_nodes_and_each_node_keeps_one_while_redis_is_down()
{
    // Each socket alone may send 100/s; the user, over every node, 1/s with a
    // burst of 3: at any moment at most `3 + elapsed` of theirs are stored.
    let mut cluster = Cluster::new();
    let limits = ["--msg-rate", "100", "--user-msg-rate", "1"];
    let a = cluster.node_with(&limits).await;
    let b = cluster.node_with(&limits).await;
    let ticket = a.ticket_for(&customer(1)).await;
    let start = Instant::now();
    let within_budget = |stored: usize| {
        assert!(
            stored as f64 <= 3.0 + start.elapsed().as_secs_f64(),
            "{stored} messages stored in {:?}",
            start.elapsed()
        );
    };
    let mut on_a = a.connect(ticket, &customer(1)).await;
    on_a.expect("connection_established").await;
    let mut on_b = b.connect(ticket, &customer(1)).await;
    on_b.expect("connection_established").await;
    let (mut stored, mut refused) = (0, 0);
    // Write through both nodes, sockets and REST, for about 3 s: 12 rounds,
    // so neither socket reaches the 20 refusals in a row that close it.
    for round in 0..12 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        for (node, ws) in [(&a, &mut on_a), (&b, &mut on_b)] {
            ws.send_message("hola", &format!("ws-{round}")).await;
            let frame = ws.wait_for_any(&["mensaje_confirmado", "error"]).await;
            if frame["tipo"] == "error" {
                assert_eq!(frame["data"]["codigo"], "limite_de_frecuencia", "{frame}");
                refused += 1;
            } else {
                stored += 1;
            }
            let messages: Vec<Value> = (0..5)
                .map(|i| json!({"client_id": format!("sync-{round}-{i}"), "contenido": "hola"}))
                .collect();
            let (status, body) = node
                .post(
                    &format!("/api/soporte/tickets/{ticket}/chat/sync/"),
                    &customer(1),
                    json!({ "messages": messages }),
                )
                .await;
            assert_eq!(status, 200, "{body}");
            stored += body["results"].as_array().unwrap().len();
            refused += body["errores"].as_array().unwrap().len();
            within_budget(stored);
        }
    }
    assert!(
        stored >= 3 && refused > 0,
        "{stored} stored, {refused} refused"
    );
    assert_eq!(a.history(ticket, &customer(1)).await.len(), stored);

    // Redis goes away: chat goes on, each node with a budget of its own
    // (a fresh burst of 3, then refusals).
    cluster.redis.kill();
    let start = Instant::now();
    for (n, ws) in [&mut on_a, &mut on_b].into_iter().enumerate() {
        let (mut confirmed, mut limited) = (0, 0);
        for i in 0..6 {
            ws.send_message("sin redis", &format!("local-{n}-{i}"))
                .await;
            let frame = ws.wait_for_any(&["mensaje_confirmado", "error"]).await;
            if frame["tipo"] == "error" {
                assert_eq!(frame["data"]["codigo"], "limite_de_frecuencia", "{frame}");
                limited += 1;
            } else {
                confirmed += 1;
            }
        }
        assert!(confirmed >= 3, "node {n}: {confirmed} confirmed");
        assert!(
            confirmed as f64 <= 3.0 + start.elapsed().as_secs_f64(),
            "node {n}: {confirmed} confirmed in {:?}",
            start.elapsed()
        );
        assert_eq!(confirmed + limited, 6);
    }
}

/// Sends `count` messages on `ticket` through `node`, each confirmed.
async fn send_confirmed(node: &Node, ticket: i64, token: &str, prefix: &str, count: usize) {
    let mut ws = node.connect(ticket, token).await;
    for n in 0..count {
        ws.send_message(&format!("{prefix}-{n}"), &format!("{prefix}-{n}"))
            .await;
        wait_within(&mut ws, "mensaje_confirmado", Duration::from_secs(10)).await;
    }
}

#[tokio::test]
async fn two_nodes_deliver_each_webhook_event_once_and_everything_when_one_is_killed() {
    use crate::webhooks::Receiver;
    let cluster = Cluster::new();
    let flags = [
        "--msg-rate",
        "0",
        "--webhook-allow-private",
        "--webhook-first-retry",
        "100ms",
        "--webhook-timeout",
        "2s",
    ];
    let a = cluster.node_with(&flags).await;
    let mut b = cluster.node_with(&flags).await;
    let receiver = Receiver::start_on(0, &[], Duration::from_millis(20)).await;
    let (status, body) = a
        .post(
            "/api/soporte/webhooks/",
            &supervisor(900),
            json!({"url": receiver.url(), "eventos": ["mensaje.creado"]}),
        )
        .await;
    assert_eq!(status, 201, "{body}");

    // Normal operation: both nodes' workers claim from one outbox.
    let mut tickets = Vec::new();
    for customer_id in 1..=6 {
        let node = if customer_id % 2 == 0 { &a } else { &b };
        let token = customer(customer_id);
        let ticket = node.ticket_for(&token).await;
        send_confirmed(node, ticket, &token, &format!("t{customer_id}"), 5).await;
        tickets.push((ticket, token));
    }
    let got = receiver
        .wait_until("30 events", Duration::from_secs(20), |got| got.len() >= 30)
        .await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let got_now = receiver.got();
    let ids: BTreeSet<String> = got_now.iter().map(|r| r.event_id.clone()).collect();
    assert_eq!(ids.len(), 30, "{got:?}");
    assert_eq!(got_now.len(), 30, "an event was posted twice");
    let delivered = |node: &Node| {
        let url = format!("{}/metrics", node.base());
        async move {
            let text = reqwest::get(url).await.unwrap().text().await.unwrap();
            text.lines()
                .find_map(|l| {
                    l.strip_prefix("soporte_webhooks_delivered_total ")?
                        .parse::<u64>()
                        .ok()
                })
                .unwrap()
        }
    };
    assert_eq!(
        delivered(&a).await + delivered(&b).await,
        30,
        "each recorded by one node"
    );

    // A node killed while deliveries are in flight: the rest is delivered,
    // by the survivor once the dead node's leases run out.
    receiver.set_delay(Duration::from_millis(150));
    for (n, (ticket, token)) in tickets.iter().enumerate() {
        let node = if n % 2 == 0 { &a } else { &b };
        send_confirmed(node, *ticket, token, &format!("k{n}"), 5).await;
    }
    receiver
        .wait_until("deliveries under way", Duration::from_secs(20), |got| {
            got.len() >= 35
        })
        .await;
    b.kill();
    let everything = |got: &[crate::webhooks::Received]| {
        got.iter()
            .map(|r| r.event_id.as_str())
            .collect::<BTreeSet<_>>()
            .len()
            >= 60
    };
    let got = receiver
        .wait_until("all 60 events", Duration::from_secs(40), everything)
        .await;
    let contents: BTreeSet<String> = got
        .iter()
        .map(|r| {
            r.json()["data"]["mensaje"]["contenido"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(contents.len(), 60, "every message once at least");
}
