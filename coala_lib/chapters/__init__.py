"""Chapter helpers: experiments and figures that exist for one notebook each, named after their
chapter. They may import every stage; nothing in the library imports them."""
