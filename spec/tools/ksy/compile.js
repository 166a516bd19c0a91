#!/usr/bin/env node
// Compiles spec/muxwire.ksy to a Python parser with the npm build of the
// Kaitai Struct compiler (which has a JS API only, no command line).
//
// usage: node compile.js OUT_DIR [KSY_FILE] [LANGUAGE]
//   OUT_DIR   directory that receives the generated source file(s), plus ID.ksy.json
//             (the .ksy as JSON); created if missing
//   KSY_FILE  defaults to ../../muxwire.ksy (spec/muxwire.ksy)
//   LANGUAGE  defaults to python (any target of the compiler: java, javascript, ...)
'use strict';

const fs = require('fs');
const path = require('path');
const yaml = require('js-yaml');
const KaitaiStructCompiler = require('kaitai-struct-compiler');

function usage(msg) {
  if (msg) console.error('compile.js: ' + msg);
  console.error('usage: node compile.js OUT_DIR [KSY_FILE] [LANGUAGE]');
  process.exit(2);
}

function loadKsy(file) {
  // Same loader as the Kaitai Web IDE: js-yaml's default schema.
  return yaml.load(fs.readFileSync(file, 'utf8'), { filename: file });
}

function describe(err) {
  if (err === null || err === undefined) return String(err);
  // Scala.js exceptions carry the compiler's message in getMessage() / message.
  if (typeof err.getMessage === 'function') {
    try { return err.getMessage(); } catch (_) { /* fall through */ }
  }
  if (err.message) return err.message;
  return String(err);
}

async function main() {
  const args = process.argv.slice(2);
  if (args.length < 1 || args.length > 3 || args[0] === '-h' || args[0] === '--help') usage();
  const outDir = path.resolve(args[0]);
  const ksyFile = path.resolve(args[1] || path.join(__dirname, '..', '..', 'muxwire.ksy'));
  const language = args[2] || 'python';
  if (!fs.existsSync(ksyFile)) usage('no such file: ' + ksyFile);

  // Since 0.11.0 the module is the compiler object itself; older builds
  // exported a constructor. Accept both.
  const compiler = typeof KaitaiStructCompiler === 'function'
    ? new KaitaiStructCompiler()
    : KaitaiStructCompiler;
  if (compiler.languages && !compiler.languages.includes(language)) {
    usage('unsupported language ' + language + ' (have: ' + compiler.languages.join(', ') + ')');
  }

  const ksyDir = path.dirname(ksyFile);
  const importer = {
    importYaml(name /* , mode */) {
      // `imports:` entries are relative to the importing .ksy, without extension.
      return Promise.resolve(loadKsy(path.resolve(ksyDir, name + '.ksy')));
    },
  };

  let spec;
  try {
    spec = loadKsy(ksyFile);
  } catch (e) {
    console.error('compile.js: YAML error in ' + ksyFile + ': ' + describe(e));
    process.exit(1);
  }

  let files;
  try {
    files = await compiler.compile(language, spec, importer, false);
  } catch (e) {
    console.error('compile.js: kaitai-struct-compiler ' + (compiler.version || '') +
      ' rejected ' + path.relative(process.cwd(), ksyFile) + ':\n  ' + describe(e));
    process.exit(1);
  }

  fs.mkdirSync(outDir, { recursive: true });
  // The spec as JSON too, so that tools without a YAML parser can map a
  // validation error's path (e.g. /types/tlv/seq/1) back to the field and its
  // `-error-code` annotation (spec/tools/check_ksy.py does).
  const id = (spec.meta && spec.meta.id) || path.basename(ksyFile, '.ksy');
  files[id + '.ksy.json'] = JSON.stringify(spec, null, 1) + '\n';
  for (const [name, source] of Object.entries(files)) {
    const target = path.join(outDir, name);
    fs.mkdirSync(path.dirname(target), { recursive: true });
    fs.writeFileSync(target, source);
    console.log('compile.js: wrote ' + target);
  }
}

main().catch((e) => {
  console.error('compile.js: ' + describe(e));
  process.exit(1);
});
