// What every contender shares: the stream, region, fake credentials and Kinesis limits.
export const STREAM = 'bench';
export const REGION = 'us-east-1';
export const CREDENTIALS = {
  accessKeyId: 'AKIDBENCHEXAMPLE',
  secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',
};
export const AWS_URL = `https://kinesis.${REGION}.amazonaws.com/`;
export const MAX_BATCH = 500;
export const MAX_REQUEST_BYTES = 5 * 1024 * 1024;

/** At most `limit` promises at once: `await acquire()` before starting one, `release()` after. */
export function semaphore(limit) {
  let free = limit;
  const waiting = [];
  return {
    acquire() {
      if (free > 0) {
        free--;
        return undefined;
      }
      return new Promise((resolve) => waiting.push(resolve));
    },
    release() {
      const next = waiting.shift();
      if (next) next();
      else free++;
    },
  };
}
