#!/usr/bin/python3
# s3_bad.py: an S3 server that lies, for test_s3: it answers what a broken
# or hostile server might (malformed XML, a wrong ETag, an <Error> inside a
# 200, a body shorter than asked), checking no signature.  Listens on
# 127.0.0.1, a free port; prints "ready PORT"; stops on SIGTERM.
#   GET  /b?list-type=2&max-keys=1...  an empty list (open succeeds)
#   GET  /b?list-type=2&prefix=P/data/ malformed XML
#   GET  /b?list-type=2&prefix=P/index/ a valid list with a Size of "-5"
#   GET  /b/P/obj                      "abc" for any range (a short read)
#   HEAD any                           404
#   PUT  /b/P/...                      200 with an ETag that is not the body's MD5
#   POST ?uploads                      a valid InitiateMultipartUploadResult
#   PUT  ?partNumber                   200 with the part's true MD5 as ETag
#   POST ?uploadId                     200 whose body is <Error>InternalError
#   DELETE                             204
import hashlib
import http.server
import sys
import urllib.parse

EMPTY = b'<?xml version="1.0"?><ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>'


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'

    def log_message(self, *args):
        pass

    def reply(self, code, body=b'', headers=()):
        self.send_response(code)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        if self.command != 'HEAD':
            self.wfile.write(body)

    def body(self):
        n = int(self.headers.get('Content-Length') or 0)
        return self.rfile.read(n) if n else b''

    def do_GET(self):
        u = urllib.parse.urlsplit(self.path)
        q = urllib.parse.parse_qs(u.query, keep_blank_values=True)
        if 'list-type' in q:
            prefix = q.get('prefix', [''])[0]
            if prefix.endswith('/data/'):
                self.reply(200, b'<?xml version="1.0"?><ListBucketResult><Contents><Key>x')
            elif prefix.endswith('/index/'):
                self.reply(200, b'<ListBucketResult><Contents><Key>' + prefix.encode() +
                           b'i</Key><Size>-5</Size></Contents></ListBucketResult>')
            else:
                self.reply(200, EMPTY)
        elif u.path.endswith('/.shelf-s3'):
            self.reply(404, b'<Error><Code>NoSuchKey</Code></Error>')
        else:
            self.reply(206, b'abc', [('Content-Range', 'bytes 0-2/3')])

    def do_HEAD(self):
        self.reply(404)

    def do_PUT(self):
        data = self.body()
        q = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query, keep_blank_values=True)
        if 'partNumber' in q:
            self.reply(200, b'', [('ETag', '"%s"' % hashlib.md5(data).hexdigest())])
        else:
            self.reply(200, b'', [('ETag', '"00000000000000000000000000000000"')])

    def do_POST(self):
        self.body()
        q = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query, keep_blank_values=True)
        if 'uploads' in q:
            self.reply(200, b'<InitiateMultipartUploadResult><UploadId>u1</UploadId>'
                       b'</InitiateMultipartUploadResult>')
        else:
            self.reply(200, b'<?xml version="1.0"?>\n\n<Error><Code>InternalError</Code>'
                       b'<Message>We encountered an internal error.</Message></Error>')

    def do_DELETE(self):
        self.reply(204)


def main():
    srv = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
    print('ready %d' % srv.server_address[1], flush=True)
    srv.serve_forever()


if __name__ == '__main__':
    sys.exit(main())
