// Prints ua-parser-js's engine name and device type for each user agent read from
// stdin (one per line), tab-separated, in the same order. The second, independent
// opinion for `make bench-ua`.
'use strict';
const { UAParser } = require('ua-parser-js');
const lines = require('fs').readFileSync(0, 'utf8').split('\n');
if (lines[lines.length - 1] === '') lines.pop();
const out = lines.map((ua) => {
  const r = new UAParser(ua).getResult();
  return `${r.engine.name || ''}\t${r.device.type || ''}`;
});
process.stdout.write(out.join('\n') + '\n');
