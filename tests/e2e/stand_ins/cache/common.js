// Shared by restore.js and save.js: the Actions file commands and the store layout.
const fs = require("fs");
const path = require("path");
const crypto = require("crypto");

function input(name) {
  return (process.env[`INPUT_${name.replace(/ /g, "_").toUpperCase()}`] || "").trim();
}
function append(file, name, value) {
  fs.appendFileSync(process.env[file], `${name}=${value}\n`);
}
function fail(message) {
  console.log(`::error::${message}`);
  process.exit(1);
}
function store() {
  const dir = process.env.E2E_CACHE_STORE;
  if (!dir) fail("E2E_CACHE_STORE is not set: the cache stand-in has nowhere to keep entries");
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}
function entry(key) {
  return path.join(store(), crypto.createHash("sha256").update(key).digest("hex") + ".tar");
}
function paths() {
  return input("path")
    .split("\n")
    .map((p) => p.trim())
    .filter(Boolean)
    .map((p) => (p.startsWith("~") ? path.join(require("os").homedir(), p.slice(1)) : p))
    .map((p) => path.resolve(process.env.GITHUB_WORKSPACE || process.cwd(), p));
}
function validateKey(key) {
  // The real action's checks (src/utils/actionUtils + @actions/cache checkKey).
  if (!key) fail("Input required and not supplied: key");
  if (key.length > 512) fail(`Key Validation Error: ${key} cannot be larger than 512 characters.`);
  if (/,/.test(key)) fail(`Key Validation Error: ${key} cannot contain commas.`);
}
module.exports = { input, append, fail, entry, paths, validateKey };
