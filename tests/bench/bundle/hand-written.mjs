// Bundle-size entry: the hand-written batcher (aws4fetch included).
export { run } from '../contenders/handwritten.mjs';
