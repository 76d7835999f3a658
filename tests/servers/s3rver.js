// s3rver.js: start @20minutes/s3rver (it checks SigV4 signatures) for the
// tests on 127.0.0.1.  usage: node s3rver.js DIR PORT BUCKET...
// Prints "ready PORT" on stdout when it listens; stops on SIGTERM.
// S3RVER_SERVICE_ENDPOINT (default amazonaws.com): virtual-hosted requests
// go to BUCKET.s3.ENDPOINT (with "localhost": BUCKET.s3.localhost, which
// shelf resolves to 127.0.0.1 itself).
// S3RVER_STATS=FILE keeps FILE up to date with counts ("NAME N" lines):
// connections accepted, requests by method, and peak_get, the most GET
// requests in progress at once; removing FILE starts the counts again.
// S3RVER_LOG=FILE appends "METHOD URL" for each request.
'use strict';
const fs = require('fs');
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

function count(http, file) {
  let c = null;
  let gets = 0;
  const fresh = () => {
    if (!c || !fs.existsSync(file)) c = { connections: 0, peak_get: 0 };
  };
  const save = () => fs.writeFileSync(file,
    Object.entries(c).map(([k, v]) => `${k} ${v}\n`).join(''));
  http.on('connection', () => {
    fresh();
    c.connections++;
    save();
  });
  http.on('request', (req, res) => {
    fresh();
    c[req.method] = (c[req.method] || 0) + 1;
    if (req.method === 'GET') {
      gets++;
      c.peak_get = Math.max(c.peak_get, gets);
      res.on('close', () => { gets--; });
    }
    save();
  });
}

function log(http, file) {
  http.on('request', (req) => fs.appendFileSync(file, `${req.method} ${req.url}\n`));
}

server.run().then(({ port: p }) => {
  if (process.env.S3RVER_STATS) count(server.httpServer, process.env.S3RVER_STATS);
  if (process.env.S3RVER_LOG) log(server.httpServer, process.env.S3RVER_LOG);
  process.stdout.write(`ready ${p}\n`);
});
process.on('SIGTERM', () => server.close().then(() => process.exit(0)));
