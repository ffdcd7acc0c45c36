/* placeholder, replaced by the sampler */
