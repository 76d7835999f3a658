// s3rver.js: start @20minutes/s3rver (it checks SigV4 signatures) for the
// tests on 127.0.0.1.  usage: node s3rver.js DIR PORT BUCKET...
// Prints "ready PORT" on stdout when it listens; stops on SIGTERM.
// S3RVER_SERVICE_ENDPOINT (default amazonaws.com): virtual-hosted requests
// go to BUCKET.s3.ENDPOINT (with "localhost": BUCKET.s3.localhost, which
// shelf resolves to 127.0.0.1 itself).
'use strict';
const S3rver = require('@20minutes/s3rver');
const [dir, port, ...buckets] = process.argv.slice(2);
const server = new S3rver({
  address: '127.0.0.1',
  port: Number(port || 0),
  directory: dir,
  silent: true,
  serviceEndpoint: process.env.S3RVER_SERVICE_ENDPOINT || 'amazonaws.com',
  configureBuckets: buckets.map((name) => ({ name })),
});
server.run().then(({ port: p }) => {
  process.stdout.write(`ready ${p}\n`);
});
process.on('SIGTERM', () => server.close().then(() => process.exit(0)));
