import { useEffect, useMemo, useRef, useSyncExternalStore } from 'react';
import { InboxClient, type InboxConfig, type InboxState } from '../client/InboxClient';
import { httpToWs, pageOrigin } from '../client/util';

export interface UseAgentInboxConfig extends Omit<InboxConfig, 'baseUrl' | 'getToken'> {
  token?: string;
  getToken?: () => string | Promise<string>;
  /** Server base URL (`http://host:port`). Default: the page's origin. */
  baseUrl?: string;
}

/**
 * The agents' inbox as React state: tickets (queue and own, or all for a
 * supervisor) with unread counts and previews, the team, and who is typing.
 */
export function useAgentInbox(config: UseAgentInboxConfig = {}) {
  const configRef = useRef(config);
  configRef.current = config;
  const baseUrl = (config.baseUrl ?? pageOrigin()).replace(/\/$/, '');
  const client = useMemo(
    () =>
      new InboxClient({
        ...configRef.current,
        baseUrl: httpToWs(baseUrl),
        getToken: async () => {
          const c = configRef.current;
          return c.getToken ? c.getToken() : c.token ?? '';
        },
      }),
    [baseUrl],
  );
  useEffect(() => {
    client.connect();
    return () => client.disconnect();
  }, [client]);
  const state: InboxState = useSyncExternalStore(client.subscribe, client.getState, client.getState);
  return {
    ...state,
    client,
    setOpenTicket: (id: number | null) => client.setOpenTicket(id),
    reconnect: () => client.reconnect(),
  };
}
