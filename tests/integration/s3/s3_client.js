// An independent S3 client for the tests (@aws-sdk/client-s3, signing with the credentials in
// AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY): proves that what statectl stored are real S3
// objects, damages one on purpose and, for an encrypted repository, opens a sealed object with
// its own implementation of the format (Node's crypto; layout in core/backup/cipher.h).
//
//   node s3_client.js ENDPOINT BUCKET list PREFIX          one "key<TAB>size" line per object
//   node s3_client.js ENDPOINT BUCKET get KEY FILE
//   node s3_client.js ENDPOINT BUCKET put KEY FILE
//   node s3_client.js ENDPOINT BUCKET mirror PREFIX DIR    every object under PREFIX to DIR/KEY
//   node s3_client.js ENDPOINT BUCKET flip KEY OFFSET      rewrites KEY with one byte inverted
//   node s3_client.js ENDPOINT BUCKET open KEY FILE        decrypts a sealed object into FILE, with
//                                                          the 64-hex-digit key in env S3_CIPHER_KEY
'use strict';
const fs = require('fs');
const path = require('path');
const crypto = require('crypto');
const { S3Client, ListObjectsV2Command, GetObjectCommand, PutObjectCommand } = require('@aws-sdk/client-s3');

const [endpoint, bucket, op, a, b] = process.argv.slice(2);
const s3 = new S3Client({ endpoint, region: process.env.AWS_REGION || 'us-east-1', forcePathStyle: true,
  requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED' });

async function get(key) {
  const r = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return Buffer.from(await r.Body.transformToByteArray());
}

async function list(prefix) {
  const keys = [];
  let token;
  do {
    const r = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
    for (const o of r.Contents || []) keys.push([o.Key, o.Size]);
    token = r.IsTruncated ? r.NextContinuationToken : undefined;
  } while (token);
  return keys;
}

// "STCGCM1\n" | 8-byte file id | records of (4-byte BE length n | n bytes | 16-byte tag); record
// i's nonce is the file id + i (4 bytes BE), its additional data i + a final flag byte.
function open(data, keyHex) {
  const key = Buffer.from(keyHex, 'hex');
  if (key.length !== 32) throw new Error('S3_CIPHER_KEY is not 64 hex digits');
  if (data.subarray(0, 8).toString('latin1') !== 'STCGCM1\n') throw new Error('not a sealed object');
  const id = data.subarray(8, 16);
  const out = [];
  let pos = 16, i = 0, final = false;
  while (pos < data.length) {
    if (final) throw new Error('data after the final record');
    const n = data.readUInt32BE(pos);
    const ct = data.subarray(pos + 4, pos + 4 + n), tag = data.subarray(pos + 4 + n, pos + 4 + n + 16);
    const idx = Buffer.alloc(4);
    idx.writeUInt32BE(i);
    let plain;
    for (const flag of [0, 1]) {
      try {
        const d = crypto.createDecipheriv('aes-256-gcm', key, Buffer.concat([id, idx]));
        d.setAAD(Buffer.concat([idx, Buffer.from([flag])]));
        d.setAuthTag(tag);
        plain = Buffer.concat([d.update(ct), d.final()]);
        final = flag === 1;
        break;
      } catch (e) { /* the other flag */ }
    }
    if (!plain) throw new Error(`record ${i} fails authentication`);
    out.push(plain);
    pos += 4 + n + 16;
    i++;
  }
  if (!final) throw new Error('the final record is missing');
  return Buffer.concat(out);
}

async function main() {
  if (op === 'list') {
    for (const [key, size] of await list(a)) console.log(`${key}\t${size}`);
  } else if (op === 'get') {
    fs.writeFileSync(b, await get(a));
  } else if (op === 'put') {
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: a, Body: fs.readFileSync(b) }));
  } else if (op === 'mirror') {
    for (const [key] of await list(a)) {
      fs.mkdirSync(path.dirname(path.join(b, key)), { recursive: true });
      fs.writeFileSync(path.join(b, key), await get(key));
    }
  } else if (op === 'open') {
    fs.writeFileSync(b, open(await get(a), process.env.S3_CIPHER_KEY || ''));
  } else if (op === 'flip') {
    const data = await get(a);
    const at = Math.min(Number(b), data.length - 1);
    data[at] ^= 0xff;
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: a, Body: data }));
  } else {
    throw new Error(`unknown operation ${op}`);
  }
}
main().catch((e) => { console.error(`s3_client: ${e.name}: ${e.message}`); process.exit(1); });
