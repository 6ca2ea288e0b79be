/**
 * Business websites on loopback, built as real ones are: each site is its own HTTP server (its
 * own origin, so its own robots.txt), answering its pages with the status, content type and
 * headers a real web server would. A page may be a stream (the 50 MB site), written in chunks
 * while the client reads, so a client that stops early is seen stopping (`bytesSent`).
 */
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FixturePage {
  status?: number;
  type?: string;
  body?: string;
  headers?: Record<string, string>;
  /** Streams this many bytes of HTML instead of `body`, chunked, without a Content-Length. */
  streamBytes?: number;
  /** Answers only after this long (a slow server). */
  delayMs?: number;
}

export interface FixtureSite {
  url: string;
  /** Paths asked for, in order. */
  requests: string[];
  /** Bytes of streamed pages actually written before the client went away. */
  bytesSent(): number;
  close(): Promise<void>;
}

export async function startFixtureSite(pages: Record<string, FixturePage>): Promise<FixtureSite> {
  const requests: string[] = [];
  let sent = 0;
  const server = createServer(async (req, res) => {
    const path = new URL(req.url ?? '/', 'http://site').pathname;
    requests.push(path);
    const page = pages[path];
    if (!page) {
      res.writeHead(404, { 'content-type': 'text/html' }).end('<h1>Not found</h1>');
      return;
    }
    if (page.delayMs) await new Promise((resolve) => setTimeout(resolve, page.delayMs));
    if (res.destroyed) return;
    if (page.streamBytes) {
      stream(res, page.streamBytes, (n) => {
        sent += n;
      });
      return;
    }
    res.writeHead(page.status ?? 200, {
      'content-type': page.type ?? 'text/html; charset=utf-8',
      ...page.headers,
    });
    res.end(page.body ?? '');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    bytesSent: () => sent,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Writes `total` bytes of HTML in 64 kB chunks, waiting for the socket to drain, until done or closed. */
function stream(res: ServerResponse, total: number, count: (n: number) => void): void {
  res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
  const chunk = Buffer.alloc(64 * 1024, 'a');
  let left = total;
  const pump = () => {
    while (left > 0 && !res.destroyed) {
      const piece = left >= chunk.length ? chunk : chunk.subarray(0, left);
      left -= piece.length;
      count(piece.length);
      if (!res.write(piece)) {
        res.once('drain', pump);
        return;
      }
    }
    if (!res.destroyed) res.end();
  };
  res.on('close', () => {
    left = 0;
  });
  pump();
}

// --- the sites ---

const ALLOW_ALL = { type: 'text/plain', body: 'User-agent: *\nAllow: /\n' };

/** A restaurant with schema.org JSON-LD in a @graph, a menu page and a contact page. */
export function jsonLdRestaurant(): Record<string, FixturePage> {
  const data = {
    '@context': 'https://schema.org',
    '@graph': [
      { '@type': 'WebSite', name: 'Tasca do Porto', url: 'https://tascadoporto.example' },
      {
        '@type': 'Restaurant',
        name: 'Tasca do Porto',
        description: 'Grilled fish and petiscos by the river since 1987.',
        image: 'https://tascadoporto.example/room.jpg',
        address: {
          '@type': 'PostalAddress',
          streetAddress: 'Rua da Ribeira 12',
          addressLocality: 'Porto',
          addressRegion: 'Porto',
          postalCode: '4050-513',
          addressCountry: 'PT',
        },
        geo: { '@type': 'GeoCoordinates', latitude: 41.1406, longitude: -8.6131 },
        telephone: '+351 22 123 4567',
        email: 'mesa@tascadoporto.example',
        servesCuisine: ['Portuguese', 'Seafood'],
        priceRange: '€€',
        hasMenu: 'https://tascadoporto.example/menu',
        acceptsReservations: 'https://tascadoporto.example/reservar',
        sameAs: ['https://www.instagram.com/tascadoporto', 'https://www.facebook.com/tascadoporto'],
        openingHoursSpecification: [
          {
            '@type': 'OpeningHoursSpecification',
            dayOfWeek: ['Tuesday', 'Wednesday', 'Thursday', 'Friday'],
            opens: '12:00',
            closes: '15:00',
          },
          {
            '@type': 'OpeningHoursSpecification',
            dayOfWeek: ['https://schema.org/Friday', 'https://schema.org/Saturday'],
            opens: '19:00',
            closes: '23:30',
          },
        ],
      },
    ],
  };
  return {
    '/robots.txt': { type: 'text/plain', body: 'User-agent: *\nDisallow: /admin\n' },
    '/': {
      body: `<!doctype html>
<html lang="pt">
<head>
  <meta charset="utf-8">
  <title>Tasca do Porto — petiscos na Ribeira</title>
  <meta name="description" content="Tasca do Porto: grilled fish by the river.">
  <meta property="og:title" content="Tasca do Porto">
  <script type="application/ld+json">${JSON.stringify(data)}</script>
</head>
<body>
  <header><nav><a href="/menu">Menu</a> <a href="/contact">Contact</a> <a href="/admin">Admin</a></nav></header>
  <main><h1>Tasca do Porto</h1><p>Come hungry.</p></main>
  <footer><a href="tel:+351221234567">+351 22 123 4567</a></footer>
</body>
</html>`,
    },
    '/menu': {
      body: '<!doctype html><html><head><title>Menu</title></head><body><h1>Menu</h1><p>Bacalhau à Brás 14€</p><a href="/files/carta.pdf">Download the menu (PDF)</a></body></html>',
    },
    '/contact': {
      body: '<!doctype html><html><head><title>Contact</title></head><body><a href="mailto:mesa@tascadoporto.example">Email us</a></body></html>',
    },
  };
}

/** A café with microdata only (itemscope / itemprop), hours given as openingHours text. */
export function microdataCafe(): Record<string, FixturePage> {
  return {
    '/robots.txt': ALLOW_ALL,
    '/': {
      body: `<!doctype html>
<html><head><title>Kaffee Klatsch</title></head>
<body>
  <div itemscope itemtype="https://schema.org/CafeOrCoffeeShop">
    <h1 itemprop="name">Kaffee Klatsch</h1>
    <p itemprop="description">Third-wave coffee and cakes in Kreuzberg.</p>
    <div itemprop="address" itemscope itemtype="https://schema.org/PostalAddress">
      <span itemprop="streetAddress">Oranienstraße 5</span>,
      <span itemprop="postalCode">10997</span> <span itemprop="addressLocality">Berlin</span>
      <meta itemprop="addressCountry" content="DE">
    </div>
    <span itemprop="telephone">+49 30 1234567</span>
    <meta itemprop="openingHours" content="Mo-Fr 08:00-18:00">
    <meta itemprop="openingHours" content="Sa,Su 09:00-17:00">
    <span itemprop="servesCuisine">Coffee</span>
    <span itemprop="priceRange">€</span>
  </div>
</body></html>`,
    },
  };
}

/** A bar with no structured data: text, a tel: link and a PDF menu. */
export function plainTextBar(): Record<string, FixturePage> {
  return {
    // No robots.txt: a 404 lets every page be read.
    '/': {
      body: `<!doctype html>
<html><head><title>The Anchor</title></head>
<body>
  <h1>The Anchor</h1>
  <p>A neighbourhood pub on the harbour with craft beer, cask ales and Sunday roasts. Open every evening.</p>
  <p>Call us on <a href="tel:+44 20 7946 0018">020 7946 0018</a>.</p>
  <p><a href="/files/anchor-food.pdf">Our food</a></p>
  <script>var tracking = "<div itemscope itemtype='https://schema.org/Restaurant'>";</script>
</body></html>`,
    },
    '/files/anchor-food.pdf': { type: 'application/pdf', body: '%PDF-1.4 fake' },
  };
}

/** A site whose home page redirects to the cloud metadata address. */
export function redirectsToPrivate(): Record<string, FixturePage> {
  return {
    '/robots.txt': ALLOW_ALL,
    '/': { status: 302, headers: { location: 'http://169.254.169.254/latest/meta-data/' } },
  };
}

/** A home page of 50 MB. */
export function hugePage(): Record<string, FixturePage> {
  return { '/robots.txt': ALLOW_ALL, '/': { streamBytes: 50 * 1024 * 1024 } };
}

/** A site whose robots.txt forbids our crawler (and only ours). */
export function robotsForbid(): Record<string, FixturePage> {
  return {
    '/robots.txt': {
      type: 'text/plain',
      body: 'User-agent: AGNTBot\nDisallow: /\n\nUser-agent: *\nAllow: /\n',
    },
    '/': { body: '<!doctype html><html><head><title>Private</title></head><body>Hi</body></html>' },
  };
}
