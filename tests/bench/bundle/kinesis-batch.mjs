// Bundle-size entry: kinesis-batch as a browser app would import it (the .wasm is a separate asset).
export { KinesisBatchDispatcher } from '../../../pkg/browser.js';
