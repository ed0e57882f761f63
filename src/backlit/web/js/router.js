// Message routing: each server message goes to the handler for its type, and a reply (reply_to)
// also settles what its sender asked for (`pending`: onOk for a state, onError for an error).
//
//   const route = makeRouter(store.pending, { state: onState, trace: onTrace, ... }, { beforeEach });
//   socket.onMessage = route;

export function makeRouter(pending, handlers, { beforeEach } = {}) {
  return function route(msg) {
    const waiting = msg.reply_to !== undefined ? pending.get(msg.reply_to) : undefined;
    if (waiting) pending.delete(msg.reply_to);
    if (beforeEach) beforeEach(msg);
    const handler = handlers[msg.type];
    if (handler) handler(msg, waiting);
    if (!waiting) return;
    if (msg.type === 'state' && waiting.onOk) waiting.onOk(msg);
    if (msg.type === 'error' && waiting.onError) waiting.onError(msg);
  };
}
