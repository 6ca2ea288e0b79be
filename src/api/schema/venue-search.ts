import { queryFromInfo } from '@pothos/plugin-prisma';
import { offsetForArgs, offsetToCursor } from '@pothos/plugin-relay';
import type { VenueSearchHit } from '../../domain/venues/search.ts';
import type { Venue as VenueRow } from '../../generated/prisma/client.ts';
import { ValidationError } from '../../platform/errors.ts';
import { builder } from '../builder.ts';
import { describedEnum } from './enums.ts';
import { Venue, VenueCategory } from './venue.ts';

const SearchOrder = describedEnum('VenueSearchOrder', {
  RELEVANCE: 'Best match for the words first (the default with words).',
  DISTANCE: 'Nearest first (the default with a point).',
  NAME: 'Alphabetical (the default otherwise).',
});

const NearInput = builder.inputType('NearInput', {
  fields: (t) => ({
    latitude: t.float(),
    longitude: t.float(),
    radiusMeters: t.float({
      required: false,
      description: 'Only venues within this distance (at most 200 km).',
    }),
  }),
});

builder.queryField('venues', (t) =>
  t.connection(
    {
      type: Venue,
      description: 'Venues on the network, searched and filtered. Cursors are positions in the result.',
      args: {
        text: t.arg.string({ required: false, description: 'Words in the name, cuisines or description.' }),
        categories: t.arg({ type: [VenueCategory], required: false }),
        cuisines: t.arg.stringList({ required: false }),
        priceLevelMin: t.arg.int({ required: false }),
        priceLevelMax: t.arg.int({ required: false }),
        openAt: t.arg({
          type: 'DateTime',
          required: false,
          description: 'Only venues open at this instant.',
        }),
        near: t.arg({ type: NearInput, required: false }),
        orderBy: t.arg({ type: SearchOrder, required: false }),
      },
      resolve: async (_root, args, ctx, info) => {
        const { offset, limit, expectedSize, hasPreviousPage, hasNextPage } = offsetForArgs({
          args,
          defaultSize: 20,
          maxSize: 50,
        });
        // Pothos reads any number after a cursor's prefix: one this search never gave (negative,
        // not a number) would reach the statement as an OFFSET PostgreSQL refuses.
        if (!Number.isSafeInteger(offset) || offset < 0 || !Number.isSafeInteger(limit) || limit < 1) {
          throw new ValidationError('Not a cursor of this list', args.after ? 'after' : 'before');
        }
        const found = await ctx.domain.venues.searchVenues(args, { offset, limit });
        const { totalCount } = found;
        // A signed-in person's own taste re-orders the page (src/domain/graph/rank.ts), without
        // the look-ahead hit; an explicit alphabetical order is kept as asked.
        const basis = args.orderBy ?? (args.text ? 'RELEVANCE' : args.near ? 'DISTANCE' : 'NONE');
        const hits =
          ctx.actor.kind === 'user' && basis !== 'NAME'
            ? [
                ...(await ctx.domain.graph.personalRank(
                  ctx.actor.userId,
                  found.hits.slice(0, expectedSize),
                  basis,
                )),
                ...found.hits.slice(expectedSize),
              ]
            : found.hits;
        // One query for the page of venues and everything the request selects under them (not
        // the look-ahead hit, which only says whether there is a next page); none for venues this
        // process has read with this selection at the page version the search just read.
        const shown = hits.slice(0, expectedSize);
        const rows = await ctx.domain.venues.venuesOfHits(
          shown,
          queryFromInfo({ context: ctx, info, path: ['edges', 'node'] }),
        );
        const byId = new Map(rows.map((row) => [row.id, row as VenueRow]));
        const edges = shown.flatMap((hit, index) => {
          const node = byId.get(hit.id);
          return node ? [{ cursor: offsetToCursor(offset + index), node, hit }] : [];
        });
        return {
          edges,
          totalCount,
          pageInfo: {
            hasPreviousPage,
            hasNextPage: hasNextPage(hits.length),
            startCursor: edges[0]?.cursor ?? null,
            endCursor: edges.at(-1)?.cursor ?? null,
          },
        };
      },
    },
    {
      name: 'VenueSearchConnection',
      fields: (c) => ({ totalCount: c.int({ resolve: (connection) => connection.totalCount }) }),
    },
    {
      name: 'VenueSearchEdge',
      fields: (e) => ({
        distanceMeters: e.float({
          nullable: true,
          resolve: (edge) => (edge as unknown as { hit: VenueSearchHit }).hit.distanceMeters,
        }),
        relevance: e.float({ resolve: (edge) => (edge as unknown as { hit: VenueSearchHit }).hit.relevance }),
      }),
    },
  ),
);
