// s3rver.js: start @20minutes/s3rver (it checks SigV4 signatures) for the
// tests on 127.0.0.1.  usage: node s3rver.js DIR PORT BUCKET...
// Prints "ready PORT" on stdout when it listens; stops on SIGTERM.
'use strict';
const S3rver = require('@20minutes/s3rver');
const [dir, port, ...buckets] = process.argv.slice(2);
const server = new S3rver({
  address: '127.0.0.1',
  port: Number(port || 0),
  directory: dir,
  silent: true,
  configureBuckets: buckets.map((name) => ({ name })),
});
server.run().then(({ port: p }) => {
  process.stdout.write(`ready ${p}\n`);
});
process.on('SIGTERM', () => server.close().then(() => process.exit(0)));
