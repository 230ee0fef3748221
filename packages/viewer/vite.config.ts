import { defineConfig, type Plugin } from 'vite';

/**
 * The minifier leaves template literals alone, so each element's css`…` would ship with its
 * indentation and comments. This drops them from the static parts of css`…` literals in the
 * viewer's sources (the `${…}` expressions are kept as written); HTML templates are left as they
 * are, since whitespace there can be content.
 */
function minifyCssLiterals(): Plugin {
  return {
    name: 'flowtrace-minify-css-literals',
    transform(code, id) {
      if (!id.includes('/src/') || !/\.ts$/.test(id) || !code.includes('css`')) return null;
      let out = '';
      let at = 0;
      for (let start = code.indexOf('css`', at); start >= 0; start = code.indexOf('css`', at)) {
        out += code.slice(at, start + 4);
        let i = start + 4;
        let text = '';
        while (code[i] !== '`') {
          if (code[i] === '$' && code[i + 1] === '{') {
            out += squeeze(text);
            text = '';
            // Copy the expression whole (it may hold braces of its own).
            let depth = 0;
            const from = i;
            do {
              if (code[i] === '{') depth++;
              else if (code[i] === '}') depth--;
              i++;
            } while (depth > 0);
            out += code.slice(from, i);
          } else {
            text += code[i++];
          }
        }
        out += `${squeeze(text)}\``;
        at = i + 1;
      }
      return { code: out + code.slice(at), map: null };
    },
  };
}

/** CSS without comments and without the whitespace that means nothing. */
function squeeze(css: string): string {
  return css
    .replace(/\/\*[\s\S]*?\*\//g, '')
    .replace(/\s+/g, ' ')
    .replace(/\s*([{};,])\s*/g, '$1')
    .replace(/:\s+/g, ':');
}

// The self-contained bundle the collector serves to host pages: every element and Lit itself in
// one ES module. Bundlers use the package's own entry (dist/index.js from tsc) instead.
export default defineConfig({
  plugins: [minifyCssLiterals()],
  build: {
    outDir: 'dist/bundle',
    emptyOutDir: true,
    sourcemap: true,
    minify: true,
    // Vite keeps whitespace in an ES library so that a bundler can still tree-shake it; this file
    // is what browsers load as it is, so it gets the minifier's full output.
    rolldownOptions: { output: { minify: { codegen: true } } },
    lib: {
      entry: 'src/index.ts',
      formats: ['es'],
      fileName: () => 'flowtrace-viewer.js',
    },
  },
});
