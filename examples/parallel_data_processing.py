"""A heavy job takes all 5 slots of `data-processing`, so it runs alone; light jobs share them.

slotgate gcl create data-processing --limit 5
"""

import asyncio

from slotgate.asyncio import concurrency


async def heavy_job(process):
    async with concurrency("data-processing", occupy=5):
        return await process()


async def light_job(process):
    async with concurrency("data-processing", occupy=1):
        return await process()


async def run_jobs(heavy, light):
    async with asyncio.TaskGroup() as group:
        tasks = [group.create_task(heavy_job(job)) for job in heavy]
        tasks += [group.create_task(light_job(job)) for job in light]
    return [task.result() for task in tasks]
