import { defineConfig } from 'vite'
import vue from '@vitejs/plugin-vue'

// The console is built into the build directory given by CONSOLE_OUT_DIR
// (deploy/local/stack passes <build>/console/dist); nothing is fetched at run
// time, and nothing is inlined into index.html, so the CSP can stay 'self'.
export default defineConfig({
  plugins: [vue()],
  base: '/',
  build: {
    outDir: process.env.CONSOLE_OUT_DIR || 'dist',
    emptyOutDir: true,
    target: 'es2020',
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    cssCodeSplit: true,
    reportCompressedSize: false,
    chunkSizeWarningLimit: 900,
    rolldownOptions: {
      output: {
        manualChunks(id: string) {
          if (id.includes('node_modules/echarts') || id.includes('node_modules/zrender')) return 'charts'
          if (id.includes('node_modules/')) return 'vendor'
          return undefined
        },
      },
    },
  },
})
