const fs = require("fs");
const { execFileSync } = require("child_process");
const { input, append, fail, entry, validateKey } = require("./common.js");

const key = input("key");
validateKey(key);
if (input("restore-keys")) fail("the actions/cache stand-in does not implement restore-keys");
append("GITHUB_STATE", "CACHE_KEY", key);
const file = entry(key);
if (!fs.existsSync(file)) {
  if (input("fail-on-cache-miss") === "true") fail(`Failed to restore cache entry. Exiting as fail-on-cache-miss is set. Input key: ${key}`);
  console.log(`Cache not found for input keys: ${key}`);
  append("GITHUB_OUTPUT", "cache-hit", "false");
  process.exit(0);
}
if (input("lookup-only") !== "true") {
  execFileSync("tar", ["-xPf", file], { stdio: "inherit" });
}
append("GITHUB_STATE", "CACHE_RESULT", key);
append("GITHUB_OUTPUT", "cache-hit", "true");
console.log(`Cache restored from key: ${key}`);
