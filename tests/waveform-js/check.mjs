// Cross-checks waveform data files written by `crema waveform` against BBC's
// waveform-data library (the parser peaks.js uses), version 4.5.2.
//
//   node check.mjs CASES.json
//
// CASES.json: {"cases": [{
//   "name": str,
//   "file": path of the .dat or .json Crema wrote,
//   "expect": {"channels", "sample_rate", "scale", "length", "bits"},
//   "reference"?: {                      // the same decoded audio, for createFromAudio
//     "samples": path of raw interleaved float32 little-endian samples,
//     "channels": int, "sample_rate": int,
//     "split_channels": bool, "tolerance": int   // largest allowed |difference|, in LSB
//   }}]}
//
// For each case: WaveformData.create() must parse the file and report the
// expected channels, sample rate, scale (samples per pixel), length and bits;
// with a reference, WaveformData.createFromAudio() on those samples with the
// same scale, bits and channel mode must give the same length and channels
// and every min and max within `tolerance`. Prints one JSON line per case and
// exits 1 if any case fails.

import { readFileSync } from 'node:fs';
import WaveformData from 'waveform-data';

function parse(file) {
  const bytes = readFileSync(file);
  if (file.toLowerCase().endsWith('.json')) {
    return WaveformData.create(JSON.parse(bytes.toString('utf8')));
  }
  // An ArrayBuffer of exactly the file's bytes.
  return WaveformData.create(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
}

// A duck-typed AudioBuffer (what createFromAudio reads: numberOfChannels,
// length, sampleRate, getChannelData(i) with its own .buffer).
function audioBuffer(ref) {
  const raw = readFileSync(ref.samples);
  const all = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
  const n = Math.floor(all.length / ref.channels);
  const channels = [];
  for (let c = 0; c < ref.channels; c++) {
    const ch = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      ch[i] = all[i * ref.channels + c];
    }
    channels.push(ch);
  }
  return {
    numberOfChannels: ref.channels,
    length: n,
    sampleRate: ref.sample_rate,
    getChannelData: (c) => channels[c],
  };
}

function fromAudio(buffer, options) {
  return new Promise((resolve, reject) => {
    WaveformData.createFromAudio({ audio_buffer: buffer, disable_worker: true, ...options }, (err, wd) => {
      if (err) reject(err);
      else resolve(wd);
    });
  });
}

async function check(c) {
  const out = { name: c.name, ok: true, problems: [] };
  const fail = (msg) => {
    out.ok = false;
    out.problems.push(msg);
  };
  const wd = parse(c.file);
  const got = {
    channels: wd.channels,
    sample_rate: wd.sample_rate,
    scale: wd.scale,
    length: wd.length,
    bits: wd.bits,
  };
  out.parsed = got;
  for (const [k, v] of Object.entries(c.expect)) {
    if (got[k] !== v) fail(`${k}: waveform-data reads ${got[k]}, expected ${v}`);
  }
  if (c.reference) {
    const ref = c.reference;
    const buffer = audioBuffer(ref);
    const wr = await fromAudio(buffer, {
      scale: wd.scale,
      bits: wd.bits,
      split_channels: ref.split_channels,
    });
    out.reference = { channels: wr.channels, length: wr.length, samples: buffer.length };
    if (wr.channels !== wd.channels) fail(`channels: createFromAudio gives ${wr.channels}, Crema ${wd.channels}`);
    if (wr.length !== wd.length) fail(`length: createFromAudio gives ${wr.length}, Crema ${wd.length}`);
    let maxDiff = 0;
    let over = 0;
    let first = null;
    let len = Math.min(wr.length, wd.length);
    // waveform-data 4.5.2 bug: for 16-bit data of several channels, the last,
    // partial pixel of createFromAudio is written without advancing the
    // offset (src/waveform-generator.js, the `scale_counter > 0` block has no
    // `offset += 4`), so every channel overwrites channel 0's slot. That
    // pixel is left out of the comparison and counted in `excluded_pixels`.
    if (wd.bits === 16 && wr.channels > 1 && buffer.length % wd.scale !== 0 && len === wr.length) {
      len -= 1;
      out.excluded_pixels = 1;
    }
    for (let ch = 0; ch < Math.min(wr.channels, wd.channels); ch++) {
      const a = wd.channel(ch);
      const b = wr.channel(ch);
      for (let i = 0; i < len; i++) {
        for (const [x, y, what] of [[a.min_sample(i), b.min_sample(i), 'min'], [a.max_sample(i), b.max_sample(i), 'max']]) {
          const d = Math.abs(x - y);
          if (d > maxDiff) maxDiff = d;
          if (d > ref.tolerance) {
            over++;
            if (!first) first = `channel ${ch} pixel ${i} ${what}: Crema ${x}, createFromAudio ${y}`;
          }
        }
      }
    }
    out.max_diff = maxDiff;
    out.values_compared = 2 * len * Math.min(wr.channels, wd.channels);
    if (over > 0) fail(`${over} values differ by more than ${ref.tolerance} LSB; first: ${first}`);
    if (out.values_compared === 0) fail('nothing to compare');
  }
  return out;
}

const cases = JSON.parse(readFileSync(process.argv[2], 'utf8')).cases;
let failed = 0;
for (const c of cases) {
  let r;
  try {
    r = await check(c);
  } catch (e) {
    r = { name: c.name, ok: false, problems: [`waveform-data threw: ${e && e.message ? e.message : e}`] };
  }
  if (!r.ok) failed++;
  console.log(JSON.stringify(r));
}
process.exit(failed > 0 ? 1 : 0);
