// Loads npm-shaped packuments, each with its tarballs as attachments, and a
// design document into the primary's "registry" database. Idempotent: a
// database that already has _design/app is left alone.
//
// SEED_DOCS (default 0) tops the registry up to that many documents with
// synthetic packuments of realistic shape, the same on every run: most
// small (1-5 versions, most 1 or 2; an eighth scoped, "@scope/name"), 300
// with 100-400 versions, 5 over 1 MiB (1,500 versions and a long readme),
// and 500 with a small tarball attached. 100,000 documents are about
// 190 MB of JSON.
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
    signal: AbortSignal.timeout(p.includes('/_view/') ? 900000 : 120000),
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

// mulberry32: a small seeded generator, so the synthetic registry is the
// same bytes on every machine (the stack's snapshot is keyed by this file).
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6D2B79F5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const WORDS = ('left pad is odd even color name tiny emitter lodash fast deep merge clone event stream ' +
  'parse json yaml path glob watch chalk debug semver minimist commander async promise retry cache ' +
  'http client server router body cookie token jwt uuid date time format string array object map').split(' ');

function synthetic(i, r) {
  const pick = () => WORDS[Math.floor(r() * WORDS.length)];
  let name = `${pick()}-${pick()}-${i.toString(36)}`;
  if (r() < 0.125) name = `@${pick()}-${(i % 97).toString(36)}/${name}`;
  let nversions = 1 + Math.floor(r() * r() * 5);
  let readme = '';
  if (i % 333 === 7) nversions = 100 + Math.floor(r() * 300);
  if (i % 20000 === 11) {
    nversions = 1500;
    readme = 'This package is large. '.repeat(20000);
  }
  const author = pick() + (i % 1000);
  const when = Date.UTC(2015, 0, 1) + Math.floor(r() * 3e11);
  const doc = {
    _id: name, name, description: `${name}: synthetic packument of the registry-checks stack`,
    'dist-tags': {}, versions: {}, time: { created: new Date(when).toISOString() },
    maintainers: [{ name: author, email: `${author}@example.invalid` }], author: { name: author },
    license: r() < 0.8 ? 'MIT' : 'ISC', readme,
  };
  for (let v = 0; v < nversions; v++) {
    const version = `${Math.floor(v / 100)}.${Math.floor(v / 10) % 10}.${v % 10}`;
    const hex = Math.floor(r() * 0xffffffff).toString(16).padStart(8, '0');
    doc.versions[version] = {
      name, version, description: doc.description, main: 'index.js', license: doc.license, author: { name: author },
      dependencies: { [pick()]: `^${1 + (v % 5)}.0.0`, [pick()]: '~2.1.0' },
      _id: `${name}@${version}`,
      dist: {
        tarball: `${tarballBase}/${name}/-/${name.replace(/^@[^/]*\//, '')}-${version}.tgz`,
        shasum: hex.repeat(5),
        integrity: 'sha512-' + Buffer.from(hex.repeat(8)).toString('base64'),
      },
    };
    doc.time[version] = new Date(when + v * 86400000).toISOString();
    doc['dist-tags'].latest = version;
  }
  doc.time.modified = doc.time[doc['dist-tags'].latest];
  if (i % 200 === 3) {
    const bytes = Buffer.alloc(1500);
    for (let k = 0; k < bytes.length; k++) bytes[k] = Math.floor(r() * 256);
    doc._attachments = { [`${name.replace(/^@[^/]*\//, '')}-${doc['dist-tags'].latest}.tgz`]: { content_type: 'application/octet-stream', data: bytes.toString('base64') } };
  }
  return doc;
}

// topUp writes synthetic packuments i = have..want-1 in batches of at most
// 1000 documents or 8 MiB, two batches in flight.
async function topUp(want, real) {
  const info = await call('GET', '/registry');
  const have = info.json.doc_count || 0;
  if (have >= want) return 0;
  const r = rng(20261207);
  let i = 0;
  // An interrupted seed is run again from the start: what it wrote comes
  // back as conflicts, which are fine.
  const total = want - real;
  const batches = [];
  let batch = [], bytes = 0, written = 0;
  const send = async (docs) => {
    const res = await call('POST', '/registry/_bulk_docs', { docs });
    const failed = (Array.isArray(res.json) ? res.json : []).filter((x) => x.error && x.error !== 'conflict');
    if (res.status !== 201 || failed.length) {
      throw new Error(`POST ${base}/registry/_bulk_docs: HTTP ${res.status} ${JSON.stringify(failed.length ? failed.slice(0, 3) : res.json).slice(0, 500)}`);
    }
    written += docs.length;
  };
  const inflight = new Set();
  for (i = 0; i < total; i++) {
    const doc = synthetic(i, r);
    const size = JSON.stringify(doc).length;
    if (batch.length && (batch.length >= 1000 || bytes + size > 8 << 20)) {
      const p = send(batch).finally(() => inflight.delete(p));
      inflight.add(p);
      batch = []; bytes = 0;
      if (inflight.size >= 2) await Promise.race(inflight);
    }
    batch.push(doc); bytes += size;
  }
  if (batch.length) await send(batch);
  await Promise.all(inflight);
  return written;
}

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
  // The synthetic packuments go first, so the real ones (whose tarballs the
  // origins serve) are the newest publishes in the changes feed, which
  // check_tarball_origin --recent samples.
  const want = parseInt(process.env.SEED_DOCS || '0', 10);
  const synth = want > docs.length ? await topUp(want, docs.length) : 0;
  const res = await call('POST', '/registry/_bulk_docs', { docs });
  const failed = (Array.isArray(res.json) ? res.json : []).filter((r) => r.error && r.error !== 'conflict');
  if (res.status !== 201 || failed.length) {
    throw new Error(`POST ${base}/registry/_bulk_docs: HTTP ${res.status} ${JSON.stringify(failed.length ? failed : res.json)}`);
  }
  // The design document goes last, so its presence means the seed is complete.
  const d = await call('PUT', '/registry/_design/app', design);
  if (d.status !== 201) throw new Error(`PUT ${base}/registry/_design/app: HTTP ${d.status} ${JSON.stringify(d.json)}`);
  // Build both indexes now rather than on the first test's query.
  // On a large registry a query outlives CouchDB's request timeout (60 s,
  // a 500 "timeout") while the index goes on building: ask again.
  for (const v of ['by_name', 'by_author']) {
    const deadline = Date.now() + 1800000;
    for (;;) {
      const q = await call('GET', `/registry/_design/app/_view/${v}?limit=1`);
      if (q.status === 200) break;
      if (q.status !== 500 || Date.now() > deadline) {
        throw new Error(`GET ${base}/registry/_design/app/_view/${v}: HTTP ${q.status} ${JSON.stringify(q.json).slice(0, 200)}`);
      }
    }
  }
  console.error(`seed: ${docs.length} packuments and ${synth} synthetic ones loaded into ${base}/registry`);
}

main().catch((e) => { console.error('seed: ' + e.message); process.exit(1); });
