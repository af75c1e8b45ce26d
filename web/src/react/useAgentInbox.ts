import { useEffect, useMemo, useRef, useSyncExternalStore } from 'react';
import { InboxClient, type InboxConfig, type InboxState } from '../client/InboxClient';
import { httpToWs, pageOrigin } from '../client/util';

export interface UseAgentInboxConfig extends Omit<InboxConfig, 'baseUrl' | 'apiBase' | 'getToken'> {
  token?: string;
  /** Lets the host refresh an expiring token (see `InboxConfig.getToken`). */
  getToken?: () => string | Promise<string>;
  /** Server base URL (`http://host:port`). Default: the page's origin. */
  baseUrl?: string;
}

/**
 * The agents' inbox as React state: tickets (queue and own, or all for a
 * supervisor) with unread counts and previews, the team, and who is typing.
 * The `InboxClient` owns the state; this binds it with useSyncExternalStore.
 */
export function useAgentInbox(config: UseAgentInboxConfig = {}) {
  const configRef = useRef(config);
  configRef.current = config;
  const baseUrl = (config.baseUrl ?? pageOrigin()).replace(/\/$/, '');
  const hasGetToken = config.getToken !== undefined;
  const client = useMemo(
    () =>
      new InboxClient({
        ...configRef.current,
        baseUrl: httpToWs(baseUrl),
        apiBase: baseUrl,
        // Only a host's own getToken makes a 401 worth retrying.
        getToken: hasGetToken ? async () => (await configRef.current.getToken?.()) ?? '' : undefined,
      }),
    [baseUrl, hasGetToken],
  );
  useEffect(() => {
    client.connect(() => configRef.current.token ?? '');
    return () => client.disconnect();
  }, [client]);
  const state: InboxState = useSyncExternalStore(client.subscribe, client.getState, client.getState);
  return {
    ...state,
    client,
    setOpenTicket: (id: number | null) => client.setOpenTicket(id),
    loadMore: () => client.loadMore(),
    reconnect: () => client.reconnect(),
  };
}
