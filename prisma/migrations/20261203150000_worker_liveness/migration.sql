-- CreateEnum
CREATE TYPE "JobRecoveryOutcome" AS ENUM ('RELEASED', 'SUPERSEDED', 'FAILED');

-- CreateTable
CREATE TABLE "worker_heartbeats" (
    "worker_id" TEXT NOT NULL,
    "host" TEXT NOT NULL,
    "pid" INTEGER NOT NULL,
    "role" TEXT NOT NULL,
    "started_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "seen_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "worker_heartbeats_pkey" PRIMARY KEY ("worker_id")
);

-- CreateTable
CREATE TABLE "job_recoveries" (
    "id" UUID NOT NULL,
    "job_id" BIGINT NOT NULL,
    "task_identifier" TEXT NOT NULL,
    "worker_id" TEXT NOT NULL,
    "outcome" "JobRecoveryOutcome" NOT NULL,
    "reason" TEXT NOT NULL,
    "attempts" INTEGER NOT NULL,
    "max_attempts" INTEGER NOT NULL,
    "run_at" TIMESTAMPTZ(3) NOT NULL,
    "locked_at" TIMESTAMPTZ(3) NOT NULL,
    "job_created_at" TIMESTAMPTZ(3) NOT NULL,
    "recovered_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "job_recoveries_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "worker_heartbeats_seen_at_idx" ON "worker_heartbeats"("seen_at");

-- CreateIndex
CREATE INDEX "job_recoveries_job_id_idx" ON "job_recoveries"("job_id");

-- CreateIndex
CREATE INDEX "job_recoveries_recovered_at_idx" ON "job_recoveries"("recovered_at");
