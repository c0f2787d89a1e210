// An S3 endpoint for the tests: npm s3rver (which accepts any signature) behind a proxy that
// checks every request's AWS Signature V4 against the one key pair it is given, with its own
// implementation of the algorithm (Node's crypto, nothing shared with libcurl).
//
//   node sigv4_server.js LISTEN_PORT UPSTREAM_PORT DATA_DIR BUCKET LOG_FILE
//   env S3_CHECK_KEY_ID, S3_CHECK_SECRET (the expected pair), S3_CHECK_REGION
//
// Each request is logged to LOG_FILE as one JSON line {method, path, query, verdict, status}.
// A wrong key or signature gets 403 with S3's XML error (SignatureDoesNotMatch,
// InvalidAccessKeyId); a body whose SHA-256 or MD5 differs from its signed header gets 400.
'use strict';
const http = require('http');
const crypto = require('crypto');
const fs = require('fs');
const S3rver = require('s3rver');

const [listenPort, upstreamPort, dataDir, bucket, logFile] = process.argv.slice(2);
const keyId = process.env.S3_CHECK_KEY_ID;
const secret = process.env.S3_CHECK_SECRET;
const region = process.env.S3_CHECK_REGION || 'us-east-1';
if (!keyId || !secret) { console.error('S3_CHECK_KEY_ID and S3_CHECK_SECRET are required'); process.exit(2); }

const enc = (s) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
const sha256 = (data) => crypto.createHash('sha256').update(data).digest('hex');
const hmac = (key, data) => crypto.createHmac('sha256', key).update(data).digest();

function canonicalQuery(q) {
  if (!q) return '';
  const pairs = q.split('&').filter(Boolean).map((p) => {
    const i = p.indexOf('=');
    const k = i < 0 ? p : p.slice(0, i);
    const v = i < 0 ? '' : p.slice(i + 1);
    return [enc(decodeURIComponent(k)), enc(decodeURIComponent(v))];
  });
  pairs.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
  return pairs.map((p) => p[0] + '=' + p[1]).join('&');
}
const canonicalPath = (p) => p.split('/').map((s) => enc(decodeURIComponent(s))).join('/');

// Returns null when the request is correctly signed, else [status, code, message].
function check(req, body) {
  const auth = req.headers.authorization || '';
  const m = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/s3\/aws4_request, ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]{64})$/.exec(auth);
  if (!m) return [403, 'AccessDenied', 'no AWS Signature V4 Authorization header'];
  const [, id, day, reg, signedList, signature] = m;
  if (id !== keyId) return [403, 'InvalidAccessKeyId', 'The AWS Access Key Id you provided does not exist in our records.'];
  if (reg !== region) return [400, 'AuthorizationHeaderMalformed', `the region '${reg}' is wrong; expecting '${region}'`];
  const amzDate = req.headers['x-amz-date'] || '';
  if (amzDate.slice(0, 8) !== day) return [403, 'SignatureDoesNotMatch', 'x-amz-date does not match the credential scope'];
  const signed = signedList.split(';');
  for (const h of ['host', 'x-amz-date']) if (!signed.includes(h)) return [403, 'AccessDenied', `${h} is not signed`];
  const bodyHash = sha256(body);
  const claimed = req.headers['x-amz-content-sha256'];
  if (claimed !== undefined && claimed !== 'UNSIGNED-PAYLOAD') {
    if (!signed.includes('x-amz-content-sha256')) return [403, 'AccessDenied', 'x-amz-content-sha256 is not signed'];
    if (claimed !== bodyHash) return [400, 'XAmzContentSHA256Mismatch', 'The provided x-amz-content-sha256 header does not match what was computed.'];
  }
  if (req.headers['content-md5'] !== undefined && req.headers['content-md5'] !== crypto.createHash('md5').update(body).digest('base64'))
    return [400, 'BadDigest', 'The Content-MD5 you specified did not match what we received.'];
  const url = new URL(req.url, 'http://x');
  const rawQuery = req.url.includes('?') ? req.url.slice(req.url.indexOf('?') + 1) : '';
  const headers = signed.map((h) => `${h}:${String(req.headers[h] ?? '').trim().replace(/\s+/g, ' ')}\n`).join('');
  const canonical = [req.method, canonicalPath(url.pathname), canonicalQuery(rawQuery), headers, signedList,
    claimed !== undefined ? claimed : bodyHash].join('\n');
  const toSign = ['AWS4-HMAC-SHA256', amzDate, `${day}/${region}/s3/aws4_request`, sha256(canonical)].join('\n');
  const key = hmac(hmac(hmac(hmac('AWS4' + secret, day), region), 's3'), 'aws4_request');
  const want = hmac(key, toSign).toString('hex');
  if (!crypto.timingSafeEqual(Buffer.from(want), Buffer.from(signature)))
    return [403, 'SignatureDoesNotMatch', 'The request signature we calculated does not match the signature you provided. Check your key and signing method.'];
  return null;
}

function log(entry) { fs.appendFileSync(logFile, JSON.stringify(entry) + '\n'); }

async function main() {
  // s3rver knows only its own key id and does not check V4 signatures: register ours; the check
  // is the proxy's.
  require('s3rver/lib/models/account').DUMMY_ACCOUNT.createKeyPair(keyId, secret);
  await new S3rver({ port: Number(upstreamPort), address: '127.0.0.1', directory: dataDir, silent: true,
    configureBuckets: [{ name: bucket }] }).run();
  const proxy = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const [path, query = ''] = req.url.split('?');
      const bad = check(req, body);
      if (bad) {
        log({ method: req.method, path, query, verdict: bad[1], status: bad[0] });
        const xml = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${bad[1]}</Code><Message>${bad[2]}</Message></Error>`;
        res.writeHead(bad[0], { 'Content-Type': 'application/xml', 'Content-Length': Buffer.byteLength(xml) });
        res.end(req.method === 'HEAD' ? undefined : xml);
        return;
      }
      const up = http.request({ host: '127.0.0.1', port: Number(upstreamPort), method: req.method, path: req.url, headers: req.headers }, (ur) => {
        log({ method: req.method, path, query, verdict: 'signed', status: ur.statusCode });
        res.writeHead(ur.statusCode, ur.headers);
        ur.pipe(res);
      });
      up.on('error', (e) => { res.writeHead(502); res.end(String(e)); });
      up.end(body);
    });
  });
  proxy.listen(Number(listenPort), '127.0.0.1', () => console.log('ready'));
}
main().catch((e) => { console.error(e); process.exit(1); });
