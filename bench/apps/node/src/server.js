'use strict';
const express = require('express');
const { page } = require('./greet');
const info = require('./build-info.json');

const app = express();
let hits = 0;

app.get('/', (req, res) => {
  hits += 1;
  res.type('html').send(page(req.query.name, hits));
});
app.get('/health', (_req, res) => res.type('text').send('ok\n'));
app.get('/version', (_req, res) => res.json(info));

if (process.argv.includes('--once')) {
  process.stdout.write(page('', 1));
} else {
  const port = Number(process.env.PORT || 3000);
  app.listen(port, () => console.log(`listening on ${port} (build ${info.version})`));
}
