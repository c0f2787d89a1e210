// An independent S3 client for the tests (@aws-sdk/client-s3, signing with the credentials in
// AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY): proves that what statectl stored are real S3
// objects, and damages one on purpose.
//
//   node s3_client.js ENDPOINT BUCKET list PREFIX          one "key<TAB>size" line per object
//   node s3_client.js ENDPOINT BUCKET get KEY FILE
//   node s3_client.js ENDPOINT BUCKET flip KEY OFFSET      rewrites KEY with one byte inverted
'use strict';
const fs = require('fs');
const { S3Client, ListObjectsV2Command, GetObjectCommand, PutObjectCommand } = require('@aws-sdk/client-s3');

const [endpoint, bucket, op, a, b] = process.argv.slice(2);
const s3 = new S3Client({ endpoint, region: process.env.AWS_REGION || 'us-east-1', forcePathStyle: true,
  requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED' });

async function get(key) {
  const r = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return Buffer.from(await r.Body.transformToByteArray());
}

async function main() {
  if (op === 'list') {
    let token;
    do {
      const r = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: a, ContinuationToken: token }));
      for (const o of r.Contents || []) console.log(`${o.Key}\t${o.Size}`);
      token = r.IsTruncated ? r.NextContinuationToken : undefined;
    } while (token);
  } else if (op === 'get') {
    fs.writeFileSync(b, await get(a));
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
