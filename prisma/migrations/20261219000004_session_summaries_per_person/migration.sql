-- A chat's summaries are kept per person: in a group each member has a session of their own, and
-- one member's summary replaced another's (and the chain's start with it).
SET LOCAL lock_timeout = '5s';

ALTER TABLE "session_summaries" DROP CONSTRAINT "session_summaries_pkey";
ALTER TABLE "session_summaries" ADD CONSTRAINT "session_summaries_pkey" PRIMARY KEY ("chat_id", "user_id");
