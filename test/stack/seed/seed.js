// Loads npm-shaped packuments, each with its tarballs as attachments, and a
// design document into the primary's "registry" database. Idempotent: a
// database that already has _design/app is left alone.
'use strict';
const fs = require('fs');
const path = require('path');
const crypto = require('crypto');

const base = process.env.COUCH_URL;
const creds = fs.readFileSync(process.env.COUCH_CREDENTIALS_FILE, 'utf8').trim();
const auth = 'Basic ' + Buffer.from(creds).toString('base64');
const tarballDir = process.env.TARBALL_DIR;
const tarballBase = process.env.TARBALL_BASE;

async function call(method, p, body) {
  const res = await fetch(base + p, {
    method,
    headers: { Authorization: auth, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(30000),
  });
  const text = await res.text();
  let json;
  try { json = JSON.parse(text); } catch (e) { json = { raw: text }; }
  return { status: res.status, json };
}

function packuments() {
  const lines = fs.readFileSync(process.env.PACKAGES, 'utf8').split('\n')
    .map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  const docs = new Map();
  // Publication times one day apart, in file order, so "time" is plausible
  // and the same on every run.
  let t = Date.UTC(2024, 0, 1);
  for (const line of lines) {
    const [name, version, author] = line.split(/\s+/);
    const file = `${name}-${version}.tgz`;
    const bytes = fs.readFileSync(path.join(tarballDir, name, '-', file));
    const when = new Date(t).toISOString();
    t += 86400000;
    let doc = docs.get(name);
    if (!doc) {
      doc = {
        _id: name, name, description: `${name}: seed package of the registry-checks local stack`,
        author: { name: author }, maintainers: [{ name: author, email: `${author}@example.invalid` }],
        'dist-tags': {}, versions: {}, time: { created: when }, license: 'MIT', _attachments: {},
      };
      docs.set(name, doc);
    }
    doc.versions[version] = {
      name, version, description: doc.description, main: 'index.js', author: { name: author }, license: 'MIT',
      _id: `${name}@${version}`,
      dist: {
        tarball: `${tarballBase}/${name}/-/${file}`,
        shasum: crypto.createHash('sha1').update(bytes).digest('hex'),
        integrity: 'sha512-' + crypto.createHash('sha512').update(bytes).digest('base64'),
      },
    };
    doc['dist-tags'].latest = version;
    doc.time[version] = when;
    doc.time.modified = when;
    doc._attachments[file] = { content_type: 'application/octet-stream', data: bytes.toString('base64') };
  }
  return [...docs.values()];
}

const design = {
  _id: '_design/app',
  language: 'javascript',
  views: {
    by_name: { map: "function (doc) { if (doc.name && doc.versions) { emit(doc.name, doc['dist-tags'] && doc['dist-tags'].latest); } }" },
    by_author: {
      map: 'function (doc) { if (doc.author && doc.author.name) { emit(doc.author.name, 1); } }',
      reduce: '_count',
    },
  },
};

async function main() {
  const existing = await call('GET', '/registry/_design/app');
  if (existing.status === 200) {
    console.error('seed: registry already seeded');
    return;
  }
  const created = await call('PUT', '/registry');
  if (created.status !== 201 && created.status !== 412) {
    throw new Error(`PUT ${base}/registry: HTTP ${created.status} ${JSON.stringify(created.json)}`);
  }
  const docs = packuments();
  const res = await call('POST', '/registry/_bulk_docs', { docs });
  const failed = (Array.isArray(res.json) ? res.json : []).filter((r) => r.error);
  if (res.status !== 201 || failed.length) {
    throw new Error(`POST ${base}/registry/_bulk_docs: HTTP ${res.status} ${JSON.stringify(failed.length ? failed : res.json)}`);
  }
  // The design document goes last, so its presence means the seed is complete.
  const d = await call('PUT', '/registry/_design/app', design);
  if (d.status !== 201) throw new Error(`PUT ${base}/registry/_design/app: HTTP ${d.status} ${JSON.stringify(d.json)}`);
  // Build both indexes now rather than on the first test's query.
  for (const v of ['by_name', 'by_author']) {
    const q = await call('GET', `/registry/_design/app/_view/${v}`);
    if (q.status !== 200) throw new Error(`GET ${base}/registry/_design/app/_view/${v}: HTTP ${q.status}`);
  }
  console.error(`seed: ${docs.length} packuments loaded into ${base}/registry`);
}

main().catch((e) => { console.error('seed: ' + e.message); process.exit(1); });
