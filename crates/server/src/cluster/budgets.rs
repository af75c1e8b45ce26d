//! Each user's message budget shared by every node: one token bucket per
//! user in Redis, spent by one script call per message (or per `sync/`
//! request), on Redis's own clock so that the nodes' clocks do not matter.
//!
//! When Redis cannot answer, the caller falls back to this node's own
//! budget (`rate::MessageBudgets`): a user then gets one budget per node, as
//! before cluster mode, and chat goes on.

use super::Redis;
use soporte_protocol::UserId;
use std::sync::Arc;

/// Takes up to ARGV[3] tokens from the bucket at KEYS[1] (rate ARGV[1] per
/// second, burst ARGV[2]) and returns how many it took. The bucket is a hash
/// of its tokens and the time they were counted; it expires once it would be
/// full again, since a full bucket and no bucket are the same.
const TAKE: &str = r#"
-- Before Redis 5, a script that reads TIME must ask to replicate its
-- effects, not itself, before it may write; from 5 on this changes nothing.
redis.replicate_commands()
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local wanted = tonumber(ARGV[3])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local bucket = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(bucket[1]) or burst
local at = tonumber(bucket[2]) or now
if now > at then
  tokens = math.min(burst, tokens + (now - at) * rate / 1000)
else
  now = at
end
local taken = math.min(wanted, math.floor(tokens))
tokens = tokens - taken
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', now)
redis.call('PEXPIRE', KEYS[1], math.ceil((burst - tokens) * 1000 / rate) + 1000)
return taken
"#;

pub struct RedisBudgets {
    redis: Arc<Redis>,
    rate: u32,
    burst: u32,
    take: redis::Script,
}

impl RedisBudgets {
    pub fn new(redis: Arc<Redis>, rate: u32, burst: u32) -> RedisBudgets {
        RedisBudgets {
            redis,
            rate,
            burst,
            take: redis::Script::new(TAKE),
        }
    }

    /// Takes up to `wanted` messages from `user`'s budget across the nodes.
    pub async fn take_up_to(&self, user: UserId, wanted: u32) -> Result<u32, String> {
        let mut conn = self.redis.conn();
        let mut call = self.take.prepare_invoke();
        call.key(format!("soporte:budget:{user}"))
            .arg(self.rate)
            .arg(self.burst)
            .arg(wanted);
        super::within(call.invoke_async(&mut conn)).await
    }
}
