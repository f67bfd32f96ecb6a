// Bundle-size entry: the AWS SDK v3 Kinesis client and the one command the benchmark uses.
export { KinesisClient, PutRecordsCommand } from '@aws-sdk/client-kinesis';
