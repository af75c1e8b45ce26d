//! The team as agents' inboxes see it: who the agents are, whether they
//! are available and connected, how many tickets each holds.

use crate::bus::Event;
use crate::hub::inbox::{InboxEvent, InboxRoute};
use crate::state::AppState;
use crate::store::StoreResult;
use soporte_protocol::server::AgentView;
use soporte_protocol::{Availability, ServerFrame, UserId};

/// Agents as the team sees them, with who has an inbox open now.
pub async fn agent_views(state: &AppState) -> StoreResult<Vec<AgentView>> {
    let online = state.presence.online_agents().await;
    let mut agents = state.store.agents().await?;
    for agent in &mut agents {
        agent.online = online.contains(&agent.id);
    }
    Ok(agents)
}

/// Tells every inbox how `agent` stands now (availability, online, load).
pub async fn announce_agent(state: &AppState, agent: UserId) {
    let Ok(agents) = agent_views(state).await else {
        return;
    };
    if let Some(view) = agents.into_iter().find(|a| a.id == agent) {
        let frame = ServerFrame::AgentAvailability(view);
        state.bus.publish(Event::Inbox(InboxEvent {
            route: InboxRoute::Everyone,
            text: frame.encode().into(),
        }));
    }
}

/// Agents automatic assignment may pick now: inbox open and `disponible`.
pub async fn auto_assign_candidates(state: &AppState) -> StoreResult<(Vec<UserId>, i64)> {
    if !state.config.auto_assign {
        return Ok((Vec::new(), 0));
    }
    let online = state.presence.online_agents().await;
    let candidates = state
        .store
        .agents()
        .await?
        .into_iter()
        .filter(|a| a.availability == Availability::Available && online.contains(&a.id))
        .map(|a| a.id)
        .collect();
    Ok((candidates, state.config.max_chats_per_agent as i64))
}
