// Builds the dashboard into dist/dashboard: hashed assets (cached for a year by the api), each
// also written gzip- and brotli-compressed so the api serves them without compressing per request.
import { defineConfig, type Plugin } from 'vite'
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { brotliCompressSync, constants, gzipSync } from 'node:zlib'

const root = import.meta.dirname
const outDir = resolve(root, '../../dist/dashboard')

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    return statSync(path).isDirectory() ? files(path) : [path]
  })
}

function precompress(): Plugin {
  return {
    name: 'peregrine-precompress',
    apply: 'build',
    closeBundle() {
      for (const path of files(outDir)) {
        if (!/\.(js|css|html|svg|json)$/.test(path)) continue
        const body = readFileSync(path)
        writeFileSync(`${path}.gz`, gzipSync(body, { level: 9 }))
        writeFileSync(
          `${path}.br`,
          brotliCompressSync(body, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } })
        )
      }
    },
  }
}

export default defineConfig({
  root,
  base: '/',
  logLevel: 'warn',
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir,
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: false,
    chunkSizeWarningLimit: 600,
  },
  plugins: [precompress()],
})
