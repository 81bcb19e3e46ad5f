#!/usr/bin/env node
// An independent AS2 peer for the gateway's interoperability tests, built on libas2 (MIT).
//
//   node peer.js compose     < job.json   -> {headers, body}            a message libas2 builds
//   node peer.js send        < job.json   -> {status, sent, mdn}        builds, POSTs, reads the sync MDN
//   node peer.js verify-mdn  < job.json   -> {verified, exact, ...}     parses and checks one MDN
//   node peer.js serve       < job.json   -> {"port": N}, then one JSON line per message received
//
// job.json carries PEM certificates and keys (made by the test, never stored) and
// options; bodies travel base64-encoded in the JSON. libas2 wants a whole MIME
// document as one Buffer, so HTTP headers and body are joined before parsing.
'use strict';

const http = require('http');
const { AS2Composer, AS2Parser, AS2Disposition, AS2Crypto } = require('libas2');

const CRLF = '\r\n';

// The job is the first line of stdin (JSON); `serve` runs until stdin closes.
function readJob() {
  return new Promise((resolve, reject) => {
    let text = '';
    const onData = (chunk) => {
      text += chunk.toString('utf8');
      const end = text.indexOf('\n');
      if (end >= 0) {
        process.stdin.removeListener('data', onData);
        resolve(JSON.parse(text.slice(0, end)));
      }
    };
    process.stdin.on('data', onData);
    process.stdin.on('end', () => (text.trim() ? resolve(JSON.parse(text)) : reject(new Error('no job on stdin'))));
    process.stdin.on('error', reject);
  });
}

// One Buffer holding header lines, an empty line and the body, from Node's rawHeaders.
function joinRaw(rawHeaders, body) {
  let head = '';
  for (let i = 0; i < rawHeaders.length; i += 2) head += rawHeaders[i] + ': ' + rawHeaders[i + 1] + CRLF;
  return Buffer.concat([Buffer.from(head + CRLF, 'utf8'), body]);
}

function fromHeaderObject(headers, body) {
  const raw = [];
  for (const [key, value] of Object.entries(headers)) raw.push(key, String(value));
  return joinRaw(raw, body);
}

// Split a built MIME document into a header object (folded lines joined) and the body Buffer.
function splitBuilt(buffer) {
  const at = buffer.indexOf(CRLF + CRLF);
  const head = buffer.slice(0, at).toString('utf8').replace(/\r\n[ \t]+/g, ' ');
  const headers = {};
  for (const line of head.split(CRLF)) {
    const i = line.indexOf(':');
    headers[line.slice(0, i).trim()] = line.slice(i + 1).trim();
  }
  return { headers, body: buffer.slice(at + 4) };
}

async function compose(job) {
  const composer = new AS2Composer({
    message: {
      filename: job.filename || 'document.edi',
      contentType: job.contentType || 'application/edi-x12',
      content: Buffer.from(job.payload, 'base64'),
    },
    agreement: {
      host: {
        name: 'libas2 peer', id: job.from, url: job.mdnUrl || 'http://127.0.0.1/unused',
        certificate: job.certificate, privateKey: job.privateKey,
        sign: job.sign || false,
        mdn: job.mdn ? { async: Boolean(job.mdn.async), signing: job.mdn.signing || false } : undefined,
      },
      partner: {
        name: 'gateway', id: job.to, url: job.url || 'http://127.0.0.1/unused',
        certificate: job.partnerCertificate, encrypt: job.encrypt || false, verify: true,
      },
    },
  });
  const node = await composer.compile();
  const built = splitBuilt(await node.build());
  return { messageId: node.messageId(), headers: built.headers, body: built.body.toString('base64') };
}

function post(url, headers, body) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST', headers: { ...headers, 'Content-Length': body.length } }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, rawHeaders: res.rawHeaders, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

// Parse an MDN and check its signature with libas2.
async function inspectMdn(raw, certificate) {
  const node = await AS2Parser.parse(raw);
  const result = { signed: node.signed };
  if (node.signed && certificate) {
    result.verified = await AS2Crypto.verify(node, { cert: certificate });
  }
  const disposition = await AS2Disposition.incoming(node, node.signed && certificate ? { cert: certificate } : undefined);
  result.explanation = disposition.explanation;
  result.notification = disposition.notification;
  return result;
}

async function send(job) {
  const message = await compose(job);
  const body = Buffer.from(message.body, 'base64');
  const response = await post(job.url, message.headers, body);
  const out = { status: response.status, sent: message };
  if (response.body.length > 0) {
    out.mdnRaw = joinRaw(response.rawHeaders, response.body).toString('base64');
    out.mdn = await inspectMdn(joinRaw(response.rawHeaders, response.body), job.mdnCertificate || job.partnerCertificate);
  }
  return out;
}

async function verifyMdn(job) {
  return inspectMdn(fromHeaderObject(job.headers, Buffer.from(job.body, 'base64')), job.certificate);
}

function serve(job) {
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', async () => {
      const record = { path: req.url, headers: req.headers };
      try {
        const node = await AS2Parser.parse(joinRaw(req.rawHeaders, Buffer.concat(chunks)));
        const { contentNode, dispositionNode, disposition } = await AS2Disposition.outgoing({
          node,
          agreement: {
            host: {
              name: 'libas2 peer', id: job.id, url: 'http://127.0.0.1/unused',
              certificate: job.certificate, privateKey: job.privateKey, decrypt: Boolean(job.decrypt), sign: false,
            },
            partner: {
              name: 'gateway', id: req.headers['as2-from'], url: 'http://127.0.0.1/unused',
              certificate: job.partnerCertificate, verify: Boolean(job.verify),
              mdn: { signing: job.mdnSigning || false },
            },
          },
        });
        record.messageId = node.messageId();
        record.notification = disposition.notification;
        if (contentNode) {
          record.contentType = contentNode.contentType;
          record.payload = Buffer.from(contentNode.content).toString('base64');
        }
        const mdn = splitBuilt(await dispositionNode.build());
        const asyncUrl = req.headers['receipt-delivery-option'];
        if (asyncUrl) {
          res.writeHead(200, { 'Content-Length': 0 });
          res.end();
          const answer = await post(asyncUrl, mdn.headers, mdn.body);
          record.asyncMdnStatus = answer.status;
        } else {
          res.writeHead(200, { ...mdn.headers, 'Content-Length': mdn.body.length });
          res.end(mdn.body);
        }
      } catch (error) {
        record.error = String(error && error.stack || error);
        if (!res.headersSent) {
          res.writeHead(500, { 'Content-Type': 'text/plain' });
          res.end(record.error);
        }
      }
      process.stdout.write(JSON.stringify(record) + '\n');
    });
  });
  server.listen(0, '127.0.0.1', () => {
    process.stdout.write(JSON.stringify({ port: server.address().port }) + '\n');
  });
  process.stdin.on('end', () => server.close());
  process.stdin.resume();
}

(async () => {
  const command = process.argv[2];
  const job = await readJob();
  if (command === 'serve') return serve(job);
  const actions = { compose, send, 'verify-mdn': verifyMdn };
  if (!actions[command]) throw new Error('unknown command ' + command);
  process.stdout.write(JSON.stringify(await actions[command](job)) + '\n');
})().catch((error) => {
  process.stderr.write(String(error && error.stack || error) + '\n');
  process.exit(1);
});
