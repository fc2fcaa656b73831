/**
 * Docker images as a task's runtime (`image_id: docker:<image>`), as SkyPilot's docker mode: on
 * Kubernetes the image is the pod's; on VM infra (aws, gcp, ssh) the VM keeps its own image and
 * setup and run execute in one long-lived container per node (runners/container-scripts.ts).
 * Pure and bundle-safe: the optimizer, the launch checks, the workflows and the runners share it.
 */
import type { Resources } from './task/types';

export const DOCKER_PREFIX = 'docker:';

/** Infra that can run a task in a container: the pod's image, or docker/podman on the VM. */
export const CONTAINER_INFRA: readonly string[] = ['aws', 'gcp', 'kubernetes', 'ssh'];

/** SkyPilot's names of the task envs (or secrets) that log in to a private registry. */
export const DOCKER_LOGIN_ENV = {
  username: 'SKYPILOT_DOCKER_USERNAME',
  password: 'SKYPILOT_DOCKER_PASSWORD',
  server: 'SKYPILOT_DOCKER_SERVER',
} as const;

/** A docker image reference (`repo[:tag][@digest]`, with an optional registry host and port). */
const IMAGE_RE = /^[A-Za-z0-9][A-Za-z0-9._\-/:@+]*$/;

export function runsContainers(cloud: string): boolean {
  return CONTAINER_INFRA.includes(cloud);
}

/** The image of `docker:<image>` (trimmed; '' when none is named), or undefined for a VM image id. */
export function dockerImage(imageId: string | undefined): string | undefined {
  const id = imageId?.trim();
  if (!id || id.slice(0, DOCKER_PREFIX.length).toLowerCase() !== DOCKER_PREFIX) return undefined;
  return id.slice(DOCKER_PREFIX.length).trim();
}

/** The image id a VM boots from: a docker image runs on the infra's default VM image instead. */
export function vmImage(imageId: string | undefined): string | undefined {
  return dockerImage(imageId) === undefined ? imageId : undefined;
}

/** Why `docker:<image>` cannot name a docker image, or undefined when it can. */
export function badDockerImage(image: string): string | undefined {
  const example = 'expected docker:<image>, like docker:ubuntu:22.04 or docker:ghcr.io/org/app:1.2';
  if (image === '') return `docker: names no image; ${example}`;
  if (!IMAGE_RE.test(image)) return `${JSON.stringify(`docker:${image}`)} is not a docker image reference; ${example}`;
  return undefined;
}

/** The task's image id for a region: one id, or a map region -> id. */
export function imageFor(r: Pick<Resources, 'imageId'> | undefined, region: string): string | undefined {
  if (!r?.imageId) return undefined;
  return typeof r.imageId === 'string' ? r.imageId : r.imageId[region];
}

/** Every image id a candidate names (one, or each region's). */
export function imagesOf(r: Pick<Resources, 'imageId'>): string[] {
  return r.imageId === undefined ? [] : typeof r.imageId === 'string' ? [r.imageId] : Object.values(r.imageId);
}

/** SkyPilot's docker mode on a VM node: one long-lived container per node runs every phase. */
export interface ContainerSpec {
  /** the image, without `docker:` (a registry prefix is added on the node from SKYPILOT_DOCKER_SERVER) */
  image: string;
  /** the container's name on the node (`skyrun-<cluster>`) */
  name: string;
  /** pass the node's GPUs through */
  gpus: boolean;
}

/** The cluster's container on each VM node: a stable name, so a retry or a later job adopts it. */
export function containerName(clusterName: string): string {
  return `skyrun-${clusterName}`;
}
