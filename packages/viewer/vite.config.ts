import { defineConfig } from 'vite';

// The self-contained bundle the collector serves to host pages: every element and Lit itself in
// one ES module. Bundlers use the package's own entry (dist/index.js from tsc) instead.
export default defineConfig({
  build: {
    outDir: 'dist/bundle',
    emptyOutDir: true,
    sourcemap: true,
    minify: true,
    lib: {
      entry: 'src/index.ts',
      formats: ['es'],
      fileName: () => 'flowtrace-viewer.js',
    },
  },
});
