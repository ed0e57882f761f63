// The page's own state, declared in one place: every field the page keeps between messages. Every
// number in it came from the server; nothing here is computed. A function, not a shared object: each
// notebook widget runs its own main.js, while the modules it imports are shared.

export function newStore() {
  return {
    config: {},                    // the last validated config from the server
    schema: null,                  // the settings table and registries, sent with the first state
    state: null,                   // the last `state` message
    points: null,                  // the last `points` message
    header: null,                  // the last frame's header
    lastWeights: null,             // {weights, biases} of the last frame that carried them
    selection: null,               // {index, point, label} of the selected sample, as the server sent it
    urlState: null,                // the config as a URL fragment, as the server wrote it
    playing: false,
    diverged: false,
    pending: new Map(),            // message id -> what to do with its reply (or its error)
    pendingHidden: null,           // {id, hidden}: the last layer-size change sent, until its reply
    checkedAtStep: undefined,      // the step a finite-difference check ran at (it belongs to those weights)
    saliencyStep: null,            // the step the saliency field was drawn for
    graphIndex: undefined,         // the sample the open graph view shows
    preset: null,                  // the last preset pressed (its "fix" button needs it)
    copiedLink: null,              // the last link with weights copied (tests read it)
    drawCount: 0,                  // animation frames that drew something
    drawMs: 0,                     // time spent drawing them
    rafCount: 0,
    framesReceived: 0,
  };
}
