// The one way the page talks to its session: a transport with send(type, payload) -> id (or null when
// not connected), calling back onOpen(isReconnect), onMessage(msg), onFrame(header, arrays) and
// onStatus(kind, text). The page uses the WebSocket (socket.js); the notebook widget installs its own,
// over the widget's messages, before it loads main.js. Nothing else differs between the two.

import { Socket } from './socket.js';

let factory = (handlers) => new Socket(handlers);

/** Use another transport (call before main.js is imported). */
export function useTransport(makeTransport) { factory = makeTransport; }

export function openTransport(handlers) { return factory(handlers); }
