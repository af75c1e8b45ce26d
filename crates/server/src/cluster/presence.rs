//! Presence across nodes, in Redis.
//!
//! Per ticket, a sorted set holds one member per (user, node) with a score
//! that is its expiry time; a hash beside it holds how each user is shown.
//! Agents' inboxes work the same way under one key. Every node refreshes
//! the entries of its own connections every third of `--presence-ttl`; a
//! node that dies stops being refreshed, and its entries stop counting after
//! the TTL (and are reaped at the next refresh of another node). The node that removes such expired entries announces
//! `agente_left` for the agents who had no other connection.
//!
//! Arrival and departure are Lua scripts, so two nodes that see the same
//! agent arrive at once cannot both announce them, nor both miss it.
//!
//! Redis unreachable: this node answers from its own connections (the local
//! view), so chat goes on; presence across nodes comes back with the next
//! refresh.

use super::Redis;
use crate::bus::{Bus, Event};
use crate::hub::inbox::Inboxes;
use crate::hub::{Except, Hub, TicketEvent};
use crate::presence::{Change, Presence};
use async_trait::async_trait;
use soporte_protocol::server::PresenceEvent;
use soporte_protocol::{Participant, TicketId, Timestamp, UserId};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Keys of tickets nobody has touched for this long disappear.
const KEY_TTL_SECONDS: u64 = 86_400;

const INBOX_KEY: &str = "soporte:presence:inbox";

fn ticket_key(ticket: TicketId) -> String {
    format!("soporte:presence:t:{ticket}")
}

fn people_key(set: &str) -> String {
    format!("{set}:who")
}

/// Adds or refreshes `user|node`, stores how the user is shown, and returns
/// how many live entries the user has (1: this is their first anywhere).
/// KEYS: set, people. ARGV: member, user, expires_at, now, shown_as, key_ttl.
const ARRIVE: &str = r#"
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
redis.call('HSET', KEYS[2], ARGV[2], ARGV[5])
redis.call('EXPIRE', KEYS[1], ARGV[6])
redis.call('EXPIRE', KEYS[2], ARGV[6])
local prefix = ARGV[2] .. '|'
local live = 0
for _, m in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[4], '+inf')) do
  if string.sub(m, 1, #prefix) == prefix then live = live + 1 end
end
return live
"#;

/// Removes `user|node` and returns how many live entries the user has left.
/// KEYS: set, people. ARGV: member, user, now.
const DEPART: &str = r#"
redis.call('ZREM', KEYS[1], ARGV[1])
local prefix = ARGV[2] .. '|'
local live = 0
for _, m in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[3], '+inf')) do
  if string.sub(m, 1, #prefix) == prefix then live = live + 1 end
end
if live == 0 then redis.call('HDEL', KEYS[2], ARGV[2]) end
return live
"#;

/// Removes expired entries; returns how the users who are now gone
/// everywhere were shown. KEYS: set, people. ARGV: now.
const REAP: &str = r#"
local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[1])
local gone = {}
if #expired == 0 then return gone end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[1])
local seen = {}
for _, m in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[1], '+inf')) do
  seen[string.match(m, '^([^|]*)')] = true
end
for _, m in ipairs(expired) do
  local user = string.match(m, '^([^|]*)')
  if not seen[user] then
    seen[user] = true
    local shown = redis.call('HGET', KEYS[2], user)
    if shown then
      table.insert(gone, shown)
      redis.call('HDEL', KEYS[2], user)
    end
  end
end
return gone
"#;

pub struct RedisPresence {
    redis: Arc<Redis>,
    hub: Arc<Hub>,
    inboxes: Arc<Inboxes>,
    /// How long an entry counts without a refresh.
    ttl: Duration,
    arrive: redis::Script,
    depart: redis::Script,
    reap: redis::Script,
}

fn now_ms() -> i64 {
    Timestamp::now().millis()
}

impl RedisPresence {
    pub fn new(
        redis: Arc<Redis>,
        hub: Arc<Hub>,
        inboxes: Arc<Inboxes>,
        ttl: Duration,
    ) -> Arc<RedisPresence> {
        Arc::new(RedisPresence {
            redis,
            hub,
            inboxes,
            ttl,
            arrive: redis::Script::new(ARRIVE),
            depart: redis::Script::new(DEPART),
            reap: redis::Script::new(REAP),
        })
    }

    fn member(&self, user: UserId) -> String {
        format!("{user}|{}", self.redis.node)
    }

    async fn enter(&self, set: &str, user: UserId, shown_as: &str) -> Result<i64, String> {
        let mut conn = self.redis.conn();
        let now = now_ms();
        let mut call = self.arrive.prepare_invoke();
        call.key(set)
            .key(people_key(set))
            .arg(self.member(user))
            .arg(user)
            .arg(now + self.ttl.as_millis() as i64)
            .arg(now)
            .arg(shown_as)
            .arg(KEY_TTL_SECONDS);
        super::within(call.invoke_async(&mut conn)).await
    }

    async fn leave(&self, set: &str, user: UserId) -> Result<i64, String> {
        let mut conn = self.redis.conn();
        let mut call = self.depart.prepare_invoke();
        call.key(set)
            .key(people_key(set))
            .arg(self.member(user))
            .arg(user)
            .arg(now_ms());
        super::within(call.invoke_async(&mut conn)).await
    }

    /// Users with a live entry in `set`, with how they are shown.
    async fn live(&self, set: &str) -> Result<Vec<String>, String> {
        let mut conn = self.redis.conn();
        let members: Vec<String> = super::within(
            redis::cmd("ZRANGEBYSCORE")
                .arg(set)
                .arg(now_ms())
                .arg("+inf")
                .query_async(&mut conn),
        )
        .await?;
        let mut users: Vec<String> = Vec::new();
        for member in members {
            let user = member.split('|').next().unwrap_or_default().to_string();
            if !users.contains(&user) {
                users.push(user);
            }
        }
        if users.is_empty() {
            return Ok(Vec::new());
        }
        let shown: Vec<Option<String>> = super::within(
            redis::cmd("HMGET")
                .arg(people_key(set))
                .arg(&users)
                .query_async(&mut conn),
        )
        .await?;
        Ok(shown.into_iter().flatten().collect())
    }

    /// Refreshes this node's entries and reaps the dead nodes' entries of
    /// the tickets watched here, until shutdown.
    pub async fn keep_fresh(self: Arc<Self>, bus: Arc<dyn Bus>, shutdown: CancellationToken) {
        let mut tick = tokio::time::interval(self.ttl / 3);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            if let Err(error) = self.refresh().await {
                tracing::warn!(%error, "cannot refresh presence in Redis");
                continue;
            }
            if let Err(error) = self.reap_expired(bus.as_ref()).await {
                tracing::warn!(%error, "cannot reap expired presence");
            }
        }
    }

    async fn refresh(&self) -> Result<(), String> {
        let expires_at = now_ms() + self.ttl.as_millis() as i64;
        let mut pipe = redis::pipe();
        for (ticket, user) in self.hub.present() {
            let set = ticket_key(ticket);
            let shown = serde_json::to_string(&user).expect("participant serializes");
            pipe.zadd(&set, self.member(user.id), expires_at).ignore();
            pipe.hset(people_key(&set), user.id, shown).ignore();
            pipe.expire(&set, KEY_TTL_SECONDS as i64).ignore();
            pipe.expire(people_key(&set), KEY_TTL_SECONDS as i64)
                .ignore();
        }
        for (user, is_agent) in self.inboxes.present() {
            pipe.zadd(INBOX_KEY, self.member(user), expires_at).ignore();
            pipe.hset(people_key(INBOX_KEY), user, inbox_shown_as(user, is_agent))
                .ignore();
        }
        if pipe.is_empty() {
            return Ok(());
        }
        let mut conn = self.redis.conn();
        super::within(pipe.query_async::<()>(&mut conn)).await
    }

    async fn reap_expired(&self, bus: &dyn Bus) -> Result<(), String> {
        let mut conn = self.redis.conn();
        let now = now_ms();
        for (ticket, _) in self.hub.watched() {
            let set = ticket_key(ticket);
            let mut call = self.reap.prepare_invoke();
            call.key(&set).key(people_key(&set)).arg(now);
            let gone: Vec<String> = super::within(call.invoke_async(&mut conn)).await?;
            for shown in gone {
                let Ok(mut user) = serde_json::from_str::<Participant>(&shown) else {
                    continue;
                };
                tracing::info!(
                    ticket,
                    user = user.id,
                    "a node stopped answering; announcing that its user left"
                );
                user.online = false;
                let role = user.role;
                let event = PresenceEvent {
                    user,
                    timestamp: Timestamp::now(),
                };
                let Some((frame, audience)) =
                    crate::presence::announcement(role, Change::Departed, event)
                else {
                    continue;
                };
                bus.publish(Event::Room(TicketEvent {
                    ticket,
                    seq: None,
                    audience,
                    except: Except::Nobody,
                    text: frame.encode().into(),
                }));
            }
        }
        let mut reap = self.reap.prepare_invoke();
        reap.key(INBOX_KEY).key(people_key(INBOX_KEY)).arg(now);
        let _: Vec<String> = super::within(reap.invoke_async(&mut conn)).await?;
        Ok(())
    }
}

fn inbox_shown_as(user: UserId, is_agent: bool) -> String {
    format!("{user}:{}", if is_agent { "agente" } else { "staff" })
}

#[async_trait]
impl Presence for RedisPresence {
    async fn arrived(&self, ticket: TicketId, user: &Participant) -> bool {
        let shown = serde_json::to_string(user).expect("participant serializes");
        match self.enter(&ticket_key(ticket), user.id, &shown).await {
            Ok(live) => live <= 1,
            Err(error) => {
                tracing::warn!(%error, "presence unavailable; answering for this node");
                true
            }
        }
    }

    async fn departed(&self, ticket: TicketId, user: UserId) -> bool {
        match self.leave(&ticket_key(ticket), user).await {
            Ok(live) => live == 0,
            Err(error) => {
                tracing::warn!(%error, "presence unavailable; answering for this node");
                true
            }
        }
    }

    async fn online(&self, ticket: TicketId) -> Vec<Participant> {
        let mut people = self.hub.online(ticket);
        match self.live(&ticket_key(ticket)).await {
            Ok(shown) => {
                for shown in shown {
                    let Ok(mut user) = serde_json::from_str::<Participant>(&shown) else {
                        continue;
                    };
                    if !people.iter().any(|p| p.id == user.id) {
                        user.online = true;
                        user.last_seen = Some(Timestamp::now());
                        people.push(user);
                    }
                }
            }
            Err(error) => tracing::warn!(%error, "presence unavailable; answering for this node"),
        }
        people
    }

    async fn inbox_opened(&self, user: UserId, is_agent: bool) {
        if let Err(error) = self
            .enter(INBOX_KEY, user, &inbox_shown_as(user, is_agent))
            .await
        {
            tracing::warn!(%error, "presence unavailable; the inbox counts on this node only");
        }
    }

    async fn inbox_closed(&self, user: UserId) {
        if let Err(error) = self.leave(INBOX_KEY, user).await {
            tracing::warn!(%error, "presence unavailable");
        }
    }

    async fn online_agents(&self) -> HashSet<UserId> {
        let mut agents = self.inboxes.online_agents();
        match self.live(INBOX_KEY).await {
            Ok(shown) => agents.extend(shown.iter().filter_map(|s| {
                let (user, kind) = s.split_once(':')?;
                (kind == "agente").then(|| user.parse::<UserId>().ok())?
            })),
            Err(error) => tracing::warn!(%error, "presence unavailable; answering for this node"),
        }
        agents
    }
}
