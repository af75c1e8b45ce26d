//! `cluster`: the throughput load on one node, then on several nodes of one
//! cluster (one database, one Redis), where each ticket's customer and agent
//! are on different nodes, so every delivery crosses nodes through Redis.

use crate::server::{Limits, Server};
use crate::throughput::{self, Report};
use serde::Serialize;
use std::path::Path;

#[derive(Debug, Clone, clap::Args)]
#[group(id = "cluster_options")]
pub struct Options {
    #[command(flatten)]
    pub load: throughput::Options,
    /// Nodes in the second run.
    #[arg(long, default_value_t = 2)]
    pub nodes: usize,
    /// The Redis every node uses (127.0.0.1 only).
    #[arg(long, default_value = "redis://127.0.0.1:6379")]
    pub redis_url: String,
    /// The database the nodes share: `postgres://…` (its tables are created
    /// if missing; new tickets are added), or unset for a fresh SQLite file
    /// per run shared by the nodes.
    #[arg(long)]
    pub database_url: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct ClusterReport {
    pub scenario: &'static str,
    pub one_node: Report,
    pub nodes: usize,
    pub many_nodes: Report,
}

pub async fn run(bin: &Path, options: &Options) -> Result<ClusterReport, String> {
    for url in [Some(&options.redis_url), options.database_url.as_ref()]
        .into_iter()
        .flatten()
    {
        let host = url.split("://").nth(1).unwrap_or("");
        let host = host.rsplit('@').next().unwrap_or("");
        if !(host.starts_with("127.") || host.starts_with("localhost")) {
            return Err(format!("the load generator only targets 127.0.0.1: {url}"));
        }
    }
    let one_node = run_nodes(bin, options, 1).await?;
    let many_nodes = run_nodes(bin, options, options.nodes.max(2)).await?;
    Ok(ClusterReport {
        scenario: "cluster",
        one_node,
        nodes: options.nodes.max(2),
        many_nodes,
    })
}

async fn run_nodes(bin: &Path, options: &Options, nodes: usize) -> Result<Report, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let database_url = options
        .database_url
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}", dir.path().join("cluster.db").display()));
    let extra = ["--redis-url".to_string(), options.redis_url.clone()];
    let mut servers = Vec::new();
    for _ in 0..nodes {
        servers.push(
            Server::spawn_with_url(bin, Some(database_url.clone()), &extra, Limits::Off).await?,
        );
    }
    for server in &servers {
        server.wait_ready().await?;
    }
    let report = throughput::run_on(&servers, &options.load).await;
    for server in servers {
        server.stop().await;
    }
    report
}
